/* Floor backend, HTTP/1.1: answers every request with a fixed response (floor_http_loop.c
 * keeps connections open, drops request bodies). The lower bound for direct HTTP and for
 * nginx's proxy_pass. Usage: floor_http -l unix:/path|host:port [-w workers] [-b bytes] */
#include "floor_common.h"
#include "floor_http_loop.h"

static char *g_resp_ka, *g_resp_close;
static size_t g_len_ka, g_len_close;

static const char *fixed_answer(const char *head, size_t head_len, int close_after,
                                char *scratch, size_t scratch_size, size_t *len) {
  (void)head;
  (void)head_len;
  (void)scratch;
  (void)scratch_size;
  *len = close_after ? g_len_close : g_len_ka;
  return close_after ? g_resp_close : g_resp_ka;
}

int main(int argc, char **argv) {
  const char *addr;
  int workers;
  size_t body;
  floor_parse_args(argc, argv, &addr, &workers, &body);
  int lfd = floor_listen(addr, 1);
  g_resp_ka = floor_response(body, 1, &g_len_ka);
  g_resp_close = floor_response(body, 0, &g_len_close);
  floor_fork_workers(workers);
  floor_http_serve(lfd, fixed_answer);
}
