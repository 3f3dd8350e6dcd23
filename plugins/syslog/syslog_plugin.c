/* SPDX-License-Identifier: MIT */
/* The syslog plugin: the `syslog[:ident[,facility]]` logger scheme, as uWSGI's syslog plugin
 * (ident "kiln" and facility daemon by default; facility names as uWSGI's table). Each line is
 * one datagram in the format glibc's syslog(3) sends, "<PRI>Mmm dd hh:mm:ss ident[pid]: msg",
 * to the local syslog socket (/dev/log, or `syslog-socket`, kiln's extension).
 *
 * Why not openlog()/syslog(): libc keeps one ident and one facility per process, so a
 * `logger = syslog:app` beside a `req-logger = syslog:app-req,local1` could not both be
 * honoured, and its socket path is fixed, so nothing could check what it sends. The format is
 * small and the same. Sends never block (MSG_DONTWAIT): when the syslog daemon falls behind,
 * the line is counted as lost by the host instead of stalling a serving thread. The priority
 * follows kiln's level marker at the start of a line ("error: " err, "warning: " warning,
 * else info). Plain C on purpose: it uses the SDK headers and nothing else of kiln. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kiln/kiln.h"

static const kiln_host_api *host;
static kiln_plugin *self;

typedef struct syslog_settings {
  kiln_str socket; /* syslog-socket */
} syslog_settings;

static syslog_settings settings;

static const kiln_option_def options[] = {
    {"syslog-socket", KILN_OPT_STRING, "/dev/log",
     "kiln: the unix datagram socket the `syslog:` logger sends to.", 0, NULL,
     KILN_FIELD(syslog_settings, socket)},
};

/* Facility names as uWSGI's syslog plugin knows them (<syslog.h> values, shifted). */
static const struct {
  const char *name;
  int code;
} facilities[] = {
    {"kern", 0},      {"user", 1},      {"mail", 2},      {"daemon", 3},   {"auth", 4},
    {"security", 4},  {"syslog", 5},    {"lpr", 6},       {"news", 7},     {"uucp", 8},
    {"cron", 9},      {"authpriv", 10}, {"ftp", 11},      {"local0", 16},  {"local1", 17},
    {"local2", 18},   {"local3", 19},   {"local4", 20},   {"local5", 21},  {"local6", 22},
    {"local7", 23},
};

typedef struct syslogger {
  int fd;
  char ident[64];
  int facility;
  struct sockaddr_un addr;
} syslogger;

static void fail(const char *what, const char *path, int err) {
  char msg[512];
  snprintf(msg, sizeof(msg), "%s %s: %s", what, path, strerror(err));
  host->error_set(self, kiln_str_c(msg));
}

/* (Re)connects the datagram socket; 0 or -1 with error_set. */
static int connect_socket(syslogger *sl) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail("cannot create a socket for", sl->addr.sun_path, errno);
    return -1;
  }
  if (connect(fd, (const struct sockaddr *)&sl->addr, sizeof(sl->addr)) != 0) {
    int err = errno;
    close(fd);
    fail("cannot connect to the syslog socket", sl->addr.sun_path, err);
    return -1;
  }
  if (sl->fd >= 0) close(sl->fd);
  sl->fd = fd;
  return 0;
}

/* "ident[,facility]" into sl; 0 or -1 with error_set. */
static int parse_arg(syslogger *sl, kiln_str arg) {
  const char *comma = memchr(arg.ptr, ',', arg.len);
  size_t ident_len = comma ? (size_t)(comma - arg.ptr) : arg.len;
  size_t i;
  sl->facility = 3; /* daemon, uWSGI's default */
  if (ident_len == 0) {
    snprintf(sl->ident, sizeof(sl->ident), "kiln");
  } else if (ident_len >= sizeof(sl->ident) || memchr(arg.ptr, '\0', arg.len) != NULL) {
    host->error_set(self, kiln_str_c("syslog: the ident is longer than 63 bytes"));
    return -1;
  } else {
    memcpy(sl->ident, arg.ptr, ident_len);
    sl->ident[ident_len] = '\0';
  }
  if (comma != NULL) {
    char name[32];
    size_t n = arg.len - ident_len - 1;
    int found = 0;
    if (n < sizeof(name)) {
      memcpy(name, comma + 1, n);
      name[n] = '\0';
      for (i = 0; i < KILN_COUNT(facilities); ++i) {
        if (strcmp(facilities[i].name, name) == 0) {
          sl->facility = facilities[i].code;
          found = 1;
        }
      }
    }
    if (!found) {
      char msg[256];
      snprintf(msg, sizeof(msg),
               "syslog: unknown facility `%.*s` (daemon, user, local0 ... local7, auth, "
               "authpriv, cron, kern, lpr, mail, news, syslog, uucp, ftp)",
               (int)(n < 64 ? n : 64), comma + 1);
      host->error_set(self, kiln_str_c(msg));
      return -1;
    }
  }
  return 0;
}

static kiln_status on_logger_open(void *ctx, kiln_str scheme, kiln_str arg, void **handle) {
  const char *path = settings.socket.len > 0 ? settings.socket.ptr : "/dev/log";
  syslogger *sl = (syslogger *)calloc(1, sizeof(*sl));
  (void)ctx;
  (void)scheme;
  if (sl == NULL) {
    host->error_set(self, kiln_str_c("out of memory"));
    return KILN_ERROR;
  }
  sl->fd = -1;
  if (strlen(path) >= sizeof(sl->addr.sun_path)) {
    host->error_set(self, kiln_str_c("syslog-socket: the path is too long for a unix socket"));
    free(sl);
    return KILN_ERROR;
  }
  sl->addr.sun_family = AF_UNIX;
  strcpy(sl->addr.sun_path, path);
  if (parse_arg(sl, arg) != 0 || connect_socket(sl) != 0) {
    if (sl->fd >= 0) close(sl->fd);
    free(sl);
    return KILN_ERROR;
  }
  *handle = sl;
  return KILN_OK;
}

/* Severity from kiln's level marker at the start of the line. */
static int severity(const char *line, size_t len) {
  if (len >= 7 && memcmp(line, "error: ", 7) == 0) return 3;
  if (len >= 9 && memcmp(line, "warning: ", 9) == 0) return 4;
  return 6;
}

/* Sends one line (without its '\n'); 0 or an errno. Reconnects once when the daemon was
 * restarted (its socket is a new one). */
static int send_line(syslogger *sl, const char *line, size_t len) {
  char head[160];
  char stamp[32];
  struct tm tm;
  time_t now = time(NULL);
  struct iovec iov[2];
  struct msghdr mh;
  int hn;
  int attempt;
  localtime_r(&now, &tm);
  strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
  hn = snprintf(head, sizeof(head), "<%d>%s %s[%d]: ", sl->facility * 8 + severity(line, len),
                stamp, sl->ident, (int)getpid());
  iov[0].iov_base = head;
  iov[0].iov_len = (size_t)hn;
  iov[1].iov_base = (void *)line;
  iov[1].iov_len = len;
  memset(&mh, 0, sizeof(mh));
  mh.msg_iov = iov;
  mh.msg_iovlen = 2;
  for (attempt = 0; attempt < 2; ++attempt) {
    if (sendmsg(sl->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
    if (attempt > 0 || (errno != ECONNREFUSED && errno != ENOTCONN && errno != EDESTADDRREQ)) {
      break;
    }
    if (connect_socket(sl) != 0) return ECONNREFUSED;
  }
  return errno;
}

static kiln_status on_logger_write(void *handle, kiln_str line) {
  syslogger *sl = (syslogger *)handle;
  const char *p = line.ptr;
  const char *end = line.ptr + line.len;
  int err = 0;
  /* A batch of request lines: one datagram per line, as syslog daemons expect. */
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    int e = send_line(sl, p, (size_t)(stop - p));
    if (e != 0 && err == 0) err = e;
    p = nl ? nl + 1 : end;
  }
  if (err != 0) {
    fail("cannot send to the syslog socket", sl->addr.sun_path, err);
    return KILN_ERROR;
  }
  return KILN_OK;
}

static void on_logger_close(void *handle) {
  syslogger *sl = (syslogger *)handle;
  if (sl->fd >= 0) close(sl->fd);
  free(sl);
}

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  host = h;
  self = p;
  cb->on_logger_open = on_logger_open;
  cb->on_logger_write = on_logger_write;
  cb->on_logger_close = on_logger_close;
  return KILN_OK;
}

static const char *const schemes[] = {"syslog"};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .flags = KILN_PLUGIN_LOGGER_BATCHES, /* split into one datagram per line here */
    .kinds = KILN_KIND_LOGGER,
    .name = "syslog",
    .version = "0.1.0",
    .logger_schemes = schemes,
    .logger_scheme_count = KILN_COUNT(schemes),
    .init = init,
    KILN_OPTION_DEFS(options),
    KILN_SETTINGS(settings),
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
