/* SPDX-License-Identifier: MIT */
/* kiln plugin SDK: types used by the request functions of the host table (variable visitors,
 * modifier numbers) and small inline helpers over them. The functions themselves are members
 * of kiln_host_api (host.h), so a plugin never links against the host. */
#ifndef KILN_REQUEST_H
#define KILN_REQUEST_H

#include "kiln/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * kiln_var_visitor receives one CGI variable of a request during request_var_each.
 * OWNERSHIP: host; name and value stay valid until on_request returns.
 * THREADS: the thread running on_request.
 * SINCE: 1.0.  RETURNS: 0 to continue, non-zero to stop the iteration.
 */
typedef int (*kiln_var_visitor)(void *arg, kiln_str name, kiln_str value);

/**
 * kiln_modifiers are the two uwsgi packet modifiers of a request (0 and 0 for HTTP).
 * modifier1 selects the handler plugin (0: WSGI, 6: Lua/WSAPI, as nginx's uwsgi_modifier1).
 * SINCE: 1.0.
 */
typedef struct kiln_modifiers {
  uint8_t modifier1;
  uint8_t modifier2;
} kiln_modifiers;

/**
 * kiln_str_eq compares two byte strings.
 * THREADS: any.
 * SINCE: 1.0.  RETURNS: non-zero when equal.
 */
static inline int kiln_str_eq(kiln_str a, kiln_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_REQUEST_H */
