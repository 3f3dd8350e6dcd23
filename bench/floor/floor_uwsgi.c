/* Floor backend, uwsgi protocol: blocking accept, read the uwsgi packet (and a body of
 * CONTENT_LENGTH bytes), write a fixed HTTP response, close. The lower bound for a server
 * behind nginx's uwsgi_pass. Usage: floor_uwsgi -l unix:/path [-w workers] [-b body-bytes] */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor_common.h"

static int write_full(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Returns CONTENT_LENGTH from the packet's variables (0 when absent or malformed). */
static size_t content_length(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i + 2 <= n) {
    size_t kl = p[i] | (size_t)p[i + 1] << 8;
    i += 2;
    if (i + kl + 2 > n) return 0;
    const unsigned char *k = p + i;
    i += kl;
    size_t vl = p[i] | (size_t)p[i + 1] << 8;
    i += 2;
    if (i + vl > n) return 0;
    if (kl == 14 && memcmp(k, "CONTENT_LENGTH", 14) == 0) {
      char tmp[24];
      if (vl >= sizeof tmp) return 0;
      memcpy(tmp, p + i, vl);
      tmp[vl] = '\0';
      return (size_t)strtoull(tmp, NULL, 10);
    }
    i += vl;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *addr;
  int workers;
  size_t body;
  floor_parse_args(argc, argv, &addr, &workers, &body);
  int lfd = floor_listen(addr, 0);
  size_t resp_len;
  char *resp = floor_response(body, 0, &resp_len);
  floor_fork_workers(workers);
  static unsigned char pkt[65536];
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    unsigned char head[4];
    if (floor_read_full(fd, (char *)head, 4) == 0) {
      size_t size = head[1] | (size_t)head[2] << 8;
      if (floor_read_full(fd, (char *)pkt, size) == 0) {
        if (floor_discard(fd, content_length(pkt, size)) == 0) write_full(fd, resp, resp_len);
      }
    }
    close(fd);
  }
}
