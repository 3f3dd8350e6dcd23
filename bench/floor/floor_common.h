/* Shared helpers of the floor backends (bench/floor/): listen-address parsing, the fixed
 * response and worker forking. These servers do nothing but answer, so the benchmark suite
 * can report every row against what the kernel's socket work alone costs. */
#ifndef KILN_BENCH_FLOOR_COMMON_H_
#define KILN_BENCH_FLOOR_COMMON_H_

#include <stddef.h>

/* Opens a listening socket (close-on-exec) on "unix:/path", "/path" or "host:port".
 * Unix sockets are made 0666. Exits with a message on failure. */
int floor_listen(const char *addr, int nonblocking);

/* Builds "HTTP/1.1 200 OK" with a body of body_size bytes ("Hello, World!\n" when 14 or less).
 * keep_alive adds no Connection header; otherwise "Connection: close". */
char *floor_response(size_t body_size, int keep_alive, size_t *len);

/* Forks workers-1 children (the caller is the last worker); children die with the parent.
 * Returns 0 in the parent, the worker number in children. */
int floor_fork_workers(int workers);

/* Reads exactly n bytes (retrying on EINTR); 0, or -1 on an error or an early end. */
int floor_read_full(int fd, char *buf, size_t n);

/* Reads and throws away n bytes (a request body the floor does not use); 0, or -1. */
int floor_discard(int fd, size_t n);

/* Parses the common options: -l address -w workers -b body-bytes. Exits on bad usage. */
void floor_parse_args(int argc, char **argv, const char **addr, int *workers, size_t *body);

/* For the floors that run an app (floor_wsgi, floor_lua): the common options followed by the
 * app's file, which is returned; exits with a usage line naming `file_kind` (e.g. "FILE.py")
 * when it is missing. */
const char *floor_parse_app_args(int argc, char **argv, const char **addr, int *workers,
                                 const char *file_kind);

#endif /* KILN_BENCH_FLOOR_COMMON_H_ */
