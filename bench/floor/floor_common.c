/* Shared helpers of the floor backends: listen sockets, the fixed response, worker forking
 * and option parsing (see floor_common.h). */
#define _GNU_SOURCE
#include "floor_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what, const char *arg) {
  fprintf(stderr, "floor: %s %s: %s\n", what, arg, strerror(errno));
  exit(1);
}

int floor_listen(const char *addr, int nonblocking) {
  int flags = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  const char *path = NULL;
  if (strncmp(addr, "unix:", 5) == 0) path = addr + 5;
  else if (addr[0] == '/') path = addr;
  int fd;
  if (path != NULL) {
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun.sun_path) {
      fprintf(stderr, "floor: unix socket path too long (max %zu bytes): %s\n",
              sizeof sun.sun_path - 1, path);
      exit(2);
    }
    strcpy(sun.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, flags, 0);
    if (fd < 0) die("socket", path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) die("bind", path);
    chmod(path, 0666);
  } else {
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
      fprintf(stderr, "floor: expected unix:/path, /path or host:port, got '%s'\n", addr);
      exit(2);
    }
    char host[64];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host) hl = sizeof host - 1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, hl ? host : "0.0.0.0", &sin.sin_addr) != 1) {
      fprintf(stderr, "floor: expected an IPv4 address before ':' in '%s'\n", addr);
      exit(2);
    }
    fd = socket(AF_INET, flags, 0);
    if (fd < 0) die("socket", addr);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) die("bind", addr);
  }
  if (listen(fd, 1024) != 0) die("listen", addr);
  return fd;
}

char *floor_response(size_t body_size, int keep_alive, size_t *len) {
  static const char kHello[] = "Hello, World!\n";
  char head[160];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                    body_size, keep_alive ? "" : "Connection: close\r\n");
  char *out = malloc((size_t)hl + body_size);
  if (out == NULL) {
    fprintf(stderr, "floor: out of memory for a %zu-byte response\n", body_size);
    exit(1);
  }
  memcpy(out, head, (size_t)hl);
  for (size_t i = 0; i < body_size; ++i) out[hl + i] = i < 14 ? kHello[i] : 'x';
  *len = (size_t)hl + body_size;
  return out;
}

int floor_fork_workers(int workers) {
  pid_t parent = getpid();
  for (int i = 1; i < workers; ++i) {
    pid_t pid = fork();
    if (pid < 0) die("fork", "worker");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(0);
      return i;
    }
  }
  return 0;
}

int floor_read_full(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

int floor_discard(int fd, size_t n) {
  static char sink[65536];
  while (n > 0) {
    size_t chunk = n < sizeof sink ? n : sizeof sink;
    if (floor_read_full(fd, sink, chunk) != 0) return -1;
    n -= chunk;
  }
  return 0;
}

void floor_parse_args(int argc, char **argv, const char **addr, int *workers, size_t *body) {
  *addr = NULL;
  *workers = 1;
  *body = 14;
  int opt;
  while ((opt = getopt(argc, argv, "l:w:b:")) != -1) {
    switch (opt) {
      case 'l': *addr = optarg; break;
      case 'w': *workers = atoi(optarg); break;
      case 'b': *body = (size_t)strtoull(optarg, NULL, 10); break;
      default: *addr = NULL; optind = argc; break;
    }
  }
  if (*addr == NULL || *workers < 1 || *workers > 64) {
    fprintf(stderr, "usage: %s -l unix:/path|host:port [-w workers 1..64] [-b body-bytes]\n",
            argv[0]);
    exit(2);
  }
  signal(SIGPIPE, SIG_IGN);
}

const char *floor_parse_app_args(int argc, char **argv, const char **addr, int *workers,
                                 const char *file_kind) {
  size_t body_unused;
  floor_parse_args(argc, argv, addr, workers, &body_unused);
  if (optind != argc - 1) {
    fprintf(stderr, "usage: %s -l unix:/path|host:port [-w workers] %s\n", argv[0], file_kind);
    exit(2);
  }
  return argv[optind];
}
