/* SPDX-License-Identifier: MIT */
/* The logfile plugin: provides the `file:` logger scheme. Files are created mode 0640 (or
 * logfile-chmod), owned by uid/gid when kiln creates them (an existing file keeps its owner),
 * opened O_APPEND|O_CLOEXEC|O_NOFOLLOW and written with one write() per line, so lines from
 * many workers never interleave. An existing file must be a regular file owned by root or the
 * service user, as the core requires of its own log files. Plain C on purpose: it uses the SDK
 * headers and nothing else of kiln. */
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
  int chown;      /* logfile-chown: read, but an existing file is never given away */
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

/* What kind of file `mode` is, for refusals. */
static const char *file_kind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFLNK: return "a symbolic link";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    default: return "not a regular file";
  }
}

/* Reports "refusing to open PATH: <why>" through error_set. */
static void refuse(const char *path, const char *why) {
  char msg[1024];
  snprintf(msg, sizeof(msg), "refusing to open %s: %s", path, why);
  host->error_set(self, kiln_str_c(msg));
}

/* Why opening the existing `path` failed with `err`: O_NOFOLLOW gives ELOOP for a symlink and
 * O_NONBLOCK ENXIO for a FIFO with no reader; say so, else give the system's reason. */
static void report_open_failure(const char *path, int err) {
  struct stat st;
  char why[128];
  int found = lstat(path, &st) == 0;
  if (found && S_ISLNK(st.st_mode)) {
    refuse(path, "it is a symbolic link; kiln never follows a symlink at the end of a path it "
                 "writes (whoever can write the directory could point it at any file): name "
                 "the file itself");
  } else if (found && !S_ISREG(st.st_mode)) {
    snprintf(why, sizeof(why), "it is %s, not a regular file", file_kind(st.st_mode));
    refuse(path, why);
  } else {
    report("cannot open log file", path, err);
  }
}

/* The core's rules for a file that existed before kiln opened it (core/base/safe_file.cc,
 * CheckExistingFile; this plugin may use only the SDK, so they are repeated here): a regular
 * file, owned by root or by the service user (`uid`, or kiln's euid when that is not root),
 * and with one link unless the service user owns it. 0 when it passes; -1 with error_set called. */
static int check_existing(const char *path, const struct stat *st, uid_t uid) {
  char why[256];
  /* Not root, kiln's own user is the service user: it could write the file anyway. */
  int service_owned = (uid != (uid_t)-1 && st->st_uid == uid) ||
                      (geteuid() != 0 && st->st_uid == geteuid());
  if (!S_ISREG(st->st_mode)) {
    snprintf(why, sizeof(why), "it is %s, not a regular file", file_kind(st->st_mode));
  } else if (st->st_uid != 0 && !service_owned) {
    if (uid != (uid_t)-1) {
      snprintf(why, sizeof(why),
               "it is owned by uid %u, but only root or the service user (uid %u) may own a "
               "file kiln writes", (unsigned)st->st_uid, (unsigned)uid);
    } else {
      snprintf(why, sizeof(why),
               "it is owned by uid %u, but only root may own a file kiln writes as root",
               (unsigned)st->st_uid);
    }
  } else if (st->st_nlink > 1 && !service_owned) {
    snprintf(why, sizeof(why),
             "it is owned by uid %u and has %lu hard links; another name for the same file may "
             "be one kiln must not write: remove the extra links",
             (unsigned)st->st_uid, (unsigned long)st->st_nlink);
  } else {
    return 0;
  }
  refuse(path, why);
  return -1;
}

/* Opens (creating if needed) the log file; returns the fd or -1 with error_set called. Never
 * follows a symlink at the last component, never blocks on a FIFO, and gives to uid/gid only
 * a file created here (O_CREAT|O_EXCL succeeded), through its descriptor. */
static int open_file(const char *path) {
  const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
  mode_t mode = file_mode();
  int created = 0;
  int fd = -1;
  int attempt;
  int fl;
  uid_t uid;
  gid_t gid;
  struct stat st;
  owner(&uid, &gid);
  /* Create-or-open races with someone removing the file in between: a few rounds settle it. */
  for (attempt = 0; attempt < 3 && fd < 0; ++attempt) {
    fd = open(path, flags | O_CREAT | O_EXCL, mode); /* O_EXCL never follows a symlink */
    if (fd >= 0) {
      created = 1;
      break;
    }
    if (errno != EEXIST) {
      report("cannot open log file", path, errno);
      return -1;
    }
    fd = open(path, flags);
    if (fd < 0 && errno != ENOENT) {
      report_open_failure(path, errno);
      return -1;
    }
  }
  if (fd < 0) {
    report("cannot open log file", path, ENOENT);
    return -1;
  }
  if (fstat(fd, &st) != 0) {
    report("cannot fstat log file", path, errno);
    close(fd);
    return -1;
  }
  if (!created && check_existing(path, &st, uid) != 0) {
    close(fd);
    return -1;
  }
  if (created && fchmod(fd, mode) != 0) { /* open()'s mode went through the umask */
    report("cannot chmod log file", path, errno);
    close(fd);
    return -1;
  }
  if (created && (uid != (uid_t)-1 || gid != (gid_t)-1) && geteuid() == 0 &&
      fchown(fd, uid, gid) != 0) {
    report("cannot chown log file", path, errno);
    close(fd);
    return -1;
  }
  fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    report("cannot fcntl log file", path, errno);
    close(fd);
    return -1;
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
