/* The HTTP/1.1 loop shared by the floor backends that speak HTTP (floor_http, floor_lua). */
#ifndef KILN_BENCH_FLOOR_HTTP_LOOP_H_
#define KILN_BENCH_FLOOR_HTTP_LOOP_H_

#include <stddef.h>

/* Answers one request. `head` is the request head up to and including its blank line
 * ("\r\n\r\n"); `close_after` is set when the connection closes after this answer (the client
 * sent "Connection: close" or speaks HTTP/1.0), so the answer says "Connection: close" then.
 * Returns the response bytes and sets *len; NULL drops the connection. The bytes may be the
 * caller's own (a fixed response) or `scratch`, scratch_size bytes that the connection owns
 * and does not touch until the answer is sent: either way they must stay as they are until
 * the next call for the same connection. */
typedef const char *(*floor_answer_fn)(const char *head, size_t head_len, int close_after,
                                       char *scratch, size_t scratch_size, size_t *len);

/* Serves the listening socket `lfd` (non-blocking) forever: epoll, accept4, and for each
 * complete request head one call of `answer`; request bodies (Content-Length) are read and
 * dropped. Several processes may serve the same socket (EPOLLEXCLUSIVE). */
void floor_http_serve(int lfd, floor_answer_fn answer);

#endif /* KILN_BENCH_FLOOR_HTTP_LOOP_H_ */
