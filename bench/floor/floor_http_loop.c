/* The HTTP/1.1 loop of the floor backends that speak HTTP (floor_http_loop.h): an epoll
 * server keeping connections open unless the client sends "Connection: close" or speaks
 * HTTP/1.0, reading and dropping request bodies, asking a callback for each response. */
#define _GNU_SOURCE
#include "floor_http_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kBufSize = 16384, kScratchSize = 4096 };

typedef struct Conn {
  int fd;
  size_t used;          /* bytes of a request head in buf */
  size_t body_left;     /* body bytes still to drop */
  const char *out;      /* pending response bytes: the answer's, or scratch */
  size_t out_left;
  int close_after;
  char buf[kBufSize];
  char scratch[kScratchSize]; /* the connection's answer buffer (floor_answer_fn) */
} Conn;

static void conn_free(int ep, Conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

/* Case-insensitive search for a header line start "name:" in [p, end); returns the value. */
static const char *find_header(const char *p, const char *end, const char *name) {
  size_t nl = strlen(name);
  for (const char *s = p; s + nl < end; ++s) {
    if (s[-1] == '\n' && strncasecmp(s, name, nl) == 0 && s[nl] == ':') return s + nl + 1;
  }
  return NULL;
}

/* Writes what is pending; returns -1 when the connection is to be dropped, 1 when blocked. */
static int flush_out(Conn *c) {
  while (c->out_left > 0) {
    ssize_t w = send(c->fd, c->out, c->out_left, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return 1;
    if (w <= 0) return -1;
    c->out += w;
    c->out_left -= (size_t)w;
  }
  return c->close_after ? -1 : 0;
}

/* Consumes buffered input: drops body bytes, answers each complete request head. */
static int process(Conn *c, floor_answer_fn answer) {
  for (;;) {
    if (c->out_left > 0) return 0;
    if (c->body_left > 0) {
      size_t n = c->used < c->body_left ? c->used : c->body_left;
      memmove(c->buf, c->buf + n, c->used - n);
      c->used -= n;
      c->body_left -= n;
      if (c->body_left > 0) return 0;
    }
    char *end = memmem(c->buf, c->used, "\r\n\r\n", 4);
    if (end == NULL) return c->used == kBufSize ? -1 : 0;
    size_t head_len = (size_t)(end - c->buf) + 4;
    const char *hend = c->buf + head_len;
    const char *cl = find_header(c->buf + 1, hend, "content-length");
    const char *conn = find_header(c->buf + 1, hend, "connection");
    int http10 = memmem(c->buf, head_len, "HTTP/1.0\r\n", 10) != NULL;
    int close_req = conn != NULL && strncasecmp(conn + strspn(conn, " "), "close", 5) == 0;
    c->close_after = close_req || http10;
    c->body_left = cl ? (size_t)strtoull(cl, NULL, 10) : 0;
    c->out = answer(c->buf, head_len, c->close_after, c->scratch, sizeof c->scratch,
                    &c->out_left);
    if (c->out == NULL) return -1;
    memmove(c->buf, c->buf + head_len, c->used - head_len);
    c->used -= head_len;
    int r = flush_out(c);
    if (r != 0) return r;
  }
}

void floor_http_serve(int lfd, floor_answer_fn answer) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      Conn *c = events[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (fd < 0) break;
          Conn *nc = calloc(1, sizeof *nc);
          if (nc == NULL) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      int r = 0;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) r = -1;
      if (r == 0 && c->out_left > 0) r = flush_out(c);
      if (r == 0) r = process(c, answer);
      while (r == 0) {
        ssize_t got = read(c->fd, c->buf + c->used, kBufSize - c->used);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) break;
        if (got <= 0) {
          r = -1;
          break;
        }
        c->used += (size_t)got;
        r = process(c, answer);
      }
      if (r < 0) conn_free(ep, c);
    }
  }
}
