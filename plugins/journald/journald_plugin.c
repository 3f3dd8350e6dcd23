/* SPDX-License-Identifier: MIT */
/* The journald plugin: the `systemd[:ident]` logger scheme (uWSGI's systemd_logger plugin
 * names it `systemd`; `journald` is accepted too). Each line becomes one journal entry with
 * MESSAGE, PRIORITY (from kiln's level marker at the start of the line: "error: " 3,
 * "warning: " 4, else 6), SYSLOG_IDENTIFIER (the ident, "kiln" by default) and
 * SYSLOG_FACILITY 3 (daemon); journald adds _PID, _UID, _SYSTEMD_UNIT and the time itself.
 *
 * The entry is sent in the journal's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL):
 * one datagram of `KEY=value\n` fields (a value holding a newline as `KEY\n`, its length in
 * 64-bit little endian, the value and `\n`) to /run/systemd/journal/socket, or to
 * `journal-socket` (kiln's extension). An entry too large for a datagram goes as a sealed
 * memfd passed with SCM_RIGHTS, as the protocol says. This is what libsystemd's
 * sd_journal_send() does; writing it here instead of linking libsystemd keeps the build free
 * of one more dependency (kiln's sd_notify is done the same way) and lets a test receive
 * what is sent, since sd_journal_send()'s socket path cannot be changed. Sends never block:
 * a journal that falls behind costs lost lines (counted by the host), not a stalled worker.
 * Plain C on purpose: it uses the SDK headers and nothing else of kiln. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "kiln/kiln.h"

static const kiln_host_api *host;
static kiln_plugin *self;

typedef struct journald_settings {
  kiln_str socket; /* journal-socket */
} journald_settings;

static journald_settings settings;

static const char kDefaultSocket[] = "/run/systemd/journal/socket";

static const kiln_option_def options[] = {
    {"journal-socket", KILN_OPT_STRING, kDefaultSocket,
     "kiln: the journal's native-protocol socket the `systemd:` logger sends to.", 0, NULL,
     KILN_FIELD(journald_settings, socket)},
};

typedef struct journal {
  int fd;
  char ident[64];
  struct sockaddr_un addr;
} journal;

static void fail(const char *what, const char *path, int err) {
  char msg[512];
  snprintf(msg, sizeof(msg), "%s %s: %s", what, path, strerror(err));
  host->error_set(self, kiln_str_c(msg));
}

static kiln_status on_logger_open(void *ctx, kiln_str scheme, kiln_str arg, void **handle) {
  const char *path = settings.socket.len > 0 ? settings.socket.ptr : kDefaultSocket;
  journal *j;
  (void)ctx;
  (void)scheme;
  if (arg.len >= sizeof(j->ident) || memchr(arg.ptr, '\0', arg.len) != NULL ||
      memchr(arg.ptr, '\n', arg.len) != NULL) {
    host->error_set(self, kiln_str_c("systemd: the ident must be one line of at most 63 bytes"));
    return KILN_ERROR;
  }
  if (strlen(path) >= sizeof(j->addr.sun_path)) {
    host->error_set(self, kiln_str_c("journal-socket: the path is too long for a unix socket"));
    return KILN_ERROR;
  }
  j = (journal *)calloc(1, sizeof(*j));
  if (j == NULL) {
    host->error_set(self, kiln_str_c("out of memory"));
    return KILN_ERROR;
  }
  if (arg.len == 0) {
    strcpy(j->ident, "kiln");
  } else {
    memcpy(j->ident, arg.ptr, arg.len);
  }
  j->addr.sun_family = AF_UNIX;
  strcpy(j->addr.sun_path, path);
  /* Unconnected, as sd_journal_send: each entry is sent to the path, so a restarted journald
   * (a new socket at the same path) is found again without reconnecting. The socket must
   * exist now: a missing journal is a startup error, not silence. */
  j->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (j->fd < 0 || connect(j->fd, (const struct sockaddr *)&j->addr, sizeof(j->addr)) != 0) {
    fail("cannot reach the journal socket", path, errno);
    if (j->fd >= 0) close(j->fd);
    free(j);
    return KILN_ERROR;
  }
  /* Disconnect again (AF_UNSPEC), keeping the check above. */
  {
    struct sockaddr unspec;
    memset(&unspec, 0, sizeof(unspec));
    unspec.sa_family = AF_UNSPEC;
    (void)connect(j->fd, &unspec, sizeof(unspec));
  }
  *handle = j;
  return KILN_OK;
}

/* Growing buffer for one entry. */
typedef struct buf {
  char *p;
  size_t len, cap;
  int oom;
} buf;

static void put(buf *b, const void *data, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 512;
    char *np;
    while (cap < b->len + n) cap *= 2;
    np = (char *)realloc(b->p, cap);
    if (np == NULL) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

/* One field in the native protocol: KEY=value\n, or the length-prefixed form when the value
 * holds a newline. */
static void field(buf *b, const char *key, const char *value, size_t n) {
  put(b, key, strlen(key));
  if (memchr(value, '\n', n) == NULL) {
    put(b, "=", 1);
    put(b, value, n);
  } else {
    unsigned char le[8];
    uint64_t len = n;
    int i;
    for (i = 0; i < 8; ++i) le[i] = (unsigned char)(len >> (8 * i));
    put(b, "\n", 1);
    put(b, le, 8);
    put(b, value, n);
  }
  put(b, "\n", 1);
}

/* Sends an entry too large for a datagram as a sealed memfd; 0 or an errno. */
static int send_memfd(journal *j, const buf *b) {
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr mh;
  struct cmsghdr *c;
  int err = 0;
  int fd = memfd_create("kiln-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return errno;
  if (write(fd, b->p, b->len) != (ssize_t)b->len ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    err = errno ? errno : EIO;
    close(fd);
    return err;
  }
  memset(&mh, 0, sizeof(mh));
  memset(&control, 0, sizeof(control));
  mh.msg_name = &j->addr;
  mh.msg_namelen = sizeof(j->addr);
  mh.msg_control = &control;
  mh.msg_controllen = sizeof(control);
  c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(j->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) err = errno;
  close(fd);
  return err;
}

/* Severity from kiln's level marker at the start of the line. */
static const char *priority(const char *line, size_t len) {
  if (len >= 7 && memcmp(line, "error: ", 7) == 0) return "3";
  if (len >= 9 && memcmp(line, "warning: ", 9) == 0) return "4";
  return "6";
}

/* Sends one line (without its '\n') as an entry; 0 or an errno. */
static int send_entry(journal *j, buf *b, const char *line, size_t len) {
  struct msghdr mh;
  struct iovec iov;
  b->len = 0;
  field(b, "MESSAGE", line, len);
  field(b, "PRIORITY", priority(line, len), 1);
  field(b, "SYSLOG_IDENTIFIER", j->ident, strlen(j->ident));
  field(b, "SYSLOG_FACILITY", "3", 1);
  if (b->oom) return ENOMEM;
  iov.iov_base = b->p;
  iov.iov_len = b->len;
  memset(&mh, 0, sizeof(mh));
  mh.msg_name = &j->addr;
  mh.msg_namelen = sizeof(j->addr);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (sendmsg(j->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
  if (errno == EMSGSIZE || errno == ENOBUFS) return send_memfd(j, b);
  return errno;
}

static kiln_status on_logger_write(void *handle, kiln_str line) {
  journal *j = (journal *)handle;
  buf b = {NULL, 0, 0, 0};
  const char *p = line.ptr;
  const char *end = line.ptr + line.len;
  int err = 0;
  while (p < end) { /* a request-log batch: one entry per line */
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    int e = send_entry(j, &b, p, (size_t)(stop - p));
    if (e != 0 && err == 0) err = e;
    p = nl ? nl + 1 : end;
  }
  free(b.p);
  if (err != 0) {
    fail("cannot send to the journal socket", j->addr.sun_path, err);
    return KILN_ERROR;
  }
  return KILN_OK;
}

static void on_logger_close(void *handle) {
  journal *j = (journal *)handle;
  close(j->fd);
  free(j);
}

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  host = h;
  self = p;
  cb->on_logger_open = on_logger_open;
  cb->on_logger_write = on_logger_write;
  cb->on_logger_close = on_logger_close;
  return KILN_OK;
}

static const char *const schemes[] = {"systemd", "journald"};
static const char *const aliases[] = {"systemd_logger"};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .flags = KILN_PLUGIN_LOGGER_BATCHES, /* split into one entry per line here */
    .kinds = KILN_KIND_LOGGER,
    .name = "journald",
    .version = "0.1.0",
    .aliases = aliases,
    .alias_count = KILN_COUNT(aliases),
    .logger_schemes = schemes,
    .logger_scheme_count = KILN_COUNT(schemes),
    .init = init,
    KILN_OPTION_DEFS(options),
    KILN_SETTINGS(settings),
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
