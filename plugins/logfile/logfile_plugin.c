/* SPDX-License-Identifier: MIT */
/* The logfile plugin: provides the `file:` logger scheme. Files are created mode 0640 (or
 * logfile-chmod), owned by uid/gid when kiln creates them or logfile-chown asks, opened
 * O_APPEND|O_CLOEXEC and written with one write() per line, so lines from many workers never
 * interleave. Plain C on purpose: it uses the SDK headers and nothing else of kiln. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/kiln.h"

static const kiln_host_api *host;
static kiln_plugin *self;

typedef struct logfile {
  int fd;
  char *path;
} logfile;

/* Reports `what` failing on `path` with errno's text through error_set. */
static void report(const char *what, const char *path, int err) {
  char msg[1024];
  int n = snprintf(msg, sizeof(msg), "%s %s: %s", what, path, strerror(err));
  kiln_str s;
  s.ptr = msg;
  s.len = n < 0 ? 0 : ((size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
  host->error_set(self, s);
}

/* The options this plugin follows, all core's (kiln's own log files obey them too), written
 * by the host before on_config_done through the extern rows of `options` below. Strings are
 * NUL-terminated; before the configuration is read every field is zero (the defaults). */
typedef struct logfile_settings {
  kiln_str chmod; /* logfile-chmod: octal, e.g. 644 */
  int chown;      /* logfile-chown */
  kiln_str uid;   /* uid: a name or a number */
  kiln_str gid;   /* gid: a name or a number */
} logfile_settings;

static logfile_settings settings;

static const kiln_option_def options[] = {
    {"logfile-chmod", KILN_OPT_STRING, NULL, NULL, KILN_OPTF_EXTERN, NULL,
     KILN_FIELD(logfile_settings, chmod)},
    {"logfile-chown", KILN_OPT_FLAG, NULL, NULL, KILN_OPTF_EXTERN, NULL,
     KILN_FIELD(logfile_settings, chown)},
    {"uid", KILN_OPT_STRING, NULL, NULL, KILN_OPTF_EXTERN, NULL, KILN_FIELD(logfile_settings, uid)},
    {"gid", KILN_OPT_STRING, NULL, NULL, KILN_OPTF_EXTERN, NULL, KILN_FIELD(logfile_settings, gid)},
};

/* File mode: logfile-chmod as octal (e.g. 644), else 0640. */
static mode_t file_mode(void) {
  char *end = NULL;
  long mode;
  if (settings.chmod.len == 0) {
    return 0640;
  }
  mode = strtol(settings.chmod.ptr, &end, 8);
  if (end == settings.chmod.ptr || *end != '\0' || mode < 0 || mode > 07777) {
    return 0640;
  }
  return (mode_t)mode;
}

/* uid/gid named by the options (names or numbers); -1 when unset or unknown. */
static void owner(uid_t *uid, gid_t *gid) {
  const char *text;
  char *end = NULL;
  *uid = (uid_t)-1;
  *gid = (gid_t)-1;
  if (settings.uid.len > 0) {
    unsigned long n = strtoul(text = settings.uid.ptr, &end, 10);
    struct passwd *pw = (end != text && *end == '\0') ? getpwuid((uid_t)n) : getpwnam(text);
    if (pw != NULL) {
      *uid = pw->pw_uid;
      *gid = pw->pw_gid;
    } else if (end != text && *end == '\0') {
      *uid = (uid_t)n;
    }
  }
  if (settings.gid.len > 0) {
    unsigned long n = strtoul(text = settings.gid.ptr, &end, 10);
    struct group *gr = (end != text && *end == '\0') ? NULL : getgrnam(text);
    if (gr != NULL) {
      *gid = gr->gr_gid;
    } else if (end != text && *end == '\0') {
      *gid = (gid_t)n;
    }
  }
}

/* Opens (creating if needed) the log file; returns the fd or -1 with error_set called. */
static int open_file(const char *path) {
  mode_t mode = file_mode();
  int created = 1;
  uid_t uid;
  gid_t gid;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, mode);
  if (fd < 0 && errno == EEXIST) {
    created = 0;
    fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  }
  if (fd < 0) {
    report("cannot open log file", path, errno);
    return -1;
  }
  if (created && fchmod(fd, mode) != 0) { /* open()'s mode went through the umask */
    report("cannot chmod log file", path, errno);
    close(fd);
    return -1;
  }
  owner(&uid, &gid);
  if ((created || settings.chown) && (uid != (uid_t)-1 || gid != (gid_t)-1) && geteuid() == 0) {
    if (fchown(fd, uid, gid) != 0) {
      report("cannot chown log file", path, errno);
      close(fd);
      return -1;
    }
  }
  return fd;
}

static kiln_status on_logger_open(void *ctx, kiln_str scheme, kiln_str arg, void **handle) {
  logfile *lf;
  (void)ctx;
  (void)scheme;
  if (arg.len == 0 || memchr(arg.ptr, '\0', arg.len) != NULL) {
    host->error_set(self, kiln_str_c("the file: logger needs a path: logger = file:/var/log/x.log"));
    return KILN_ERROR;
  }
  lf = (logfile *)calloc(1, sizeof(*lf));
  if (lf == NULL || (lf->path = strndup(arg.ptr, arg.len)) == NULL) {
    free(lf);
    host->error_set(self, kiln_str_c("out of memory"));
    return KILN_ERROR;
  }
  lf->fd = open_file(lf->path);
  if (lf->fd < 0) {
    free(lf->path);
    free(lf);
    return KILN_ERROR;
  }
  *handle = lf;
  return KILN_OK;
}

static kiln_status on_logger_write(void *handle, kiln_str line) {
  logfile *lf = (logfile *)handle;
  ssize_t n;
  do {
    /* One write per call, a line or a batch of whole lines: O_APPEND keeps them whole. */
    n = write(lf->fd, line.ptr, line.len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    report("cannot write to", lf->path, errno);
    return KILN_ERROR;
  }
  if ((size_t)n != line.len) {
    report("short write to", lf->path, ENOSPC);
    return KILN_ERROR;
  }
  return KILN_OK;
}

static kiln_status on_logger_reopen(void *handle) {
  logfile *lf = (logfile *)handle;
  int fd = open_file(lf->path);
  if (fd < 0) {
    return KILN_ERROR; /* keep writing to the old file; error_set says why */
  }
  close(lf->fd);
  lf->fd = fd;
  return KILN_OK;
}

static void on_logger_close(void *handle) {
  logfile *lf = (logfile *)handle;
  close(lf->fd);
  free(lf->path);
  free(lf);
}

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  host = h;
  self = p;
  cb->on_logger_open = on_logger_open;
  cb->on_logger_write = on_logger_write;
  cb->on_logger_reopen = on_logger_reopen;
  cb->on_logger_close = on_logger_close;
  return KILN_OK;
}

static const char *const schemes[] = {"file"};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .flags = KILN_PLUGIN_LOGGER_BATCHES, /* a request-log batch is one write() */
    .kinds = KILN_KIND_LOGGER,
    .name = "logfile",
    .version = "0.1.0",
    .logger_schemes = schemes,
    .logger_scheme_count = KILN_COUNT(schemes),
    .init = init,
    KILN_OPTION_DEFS(options),
    KILN_SETTINGS(settings),
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
