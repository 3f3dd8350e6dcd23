/* SPDX-License-Identifier: MIT */
/* Test plugin: a uWSGI-style plugin file (exports `snake39_plugin`, mentions uwsgi) whose name
 * kiln's own snake plugin answers by alias, so the refusal can point at kiln's plugin. */
struct fake_uwsgi_plugin {
  const char *name;
  const char *origin;
};

__attribute__((visibility("default"))) struct fake_uwsgi_plugin snake39_plugin = {
    "snake", "uwsgi_plugin built for struct uwsgi_server"};
