/* SPDX-License-Identifier: MIT */
/* Test plugin: a shared object that exports no kiln_plugin_query_v1 ("not a kiln plugin"). */
__attribute__((visibility("default"))) int missing_symbol_answer(void) { return 42; }
