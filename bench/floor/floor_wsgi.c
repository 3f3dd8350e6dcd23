/* Floor backend for a Python app behind nginx's uwsgi_pass: floor_uwsgi's system calls
 * (blocking accept, read the 4-byte header, read the packet, one write, close) plus a plain
 * embedded-CPython WSGI call: an environ dict of the request's variables (keys made once,
 * values decoded per request) and the wsgi.* keys, the app's call with a start_response, the
 * body's items written after the head. Not a lower bound for the Python side (kiln's plugin
 * builds its environ with less work), but what a straightforward embedding costs. What it
 * leaves out, so that it stays a floor rather than a server:
 *   - no error handling beyond closing the connection (an exception is printed and dropped);
 *   - one shared, empty wsgi.input (request bodies are read and thrown away, as floor_uwsgi
 *     does); start_response returns None instead of a write callable, and keeps no exc_info;
 *   - no header or status validation, no Content-Length or chunked framing of its own (the app
 *     sets its headers; the connection's close ends the body);
 *   - no threads, no GIL hand-over, no log.
 * The difference between this and floor_uwsgi is what the Python call itself costs on this
 * machine, measured the same way as the servers (bench/macro/run.py, row 1).
 * Usage: floor_wsgi -l unix:/path [-w workers] FILE.py   (FILE.py defines `application`) */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "floor_common.h"

/* Writes every iovec in turn (the head and the body's items), in one writev when it all fits. */
static void write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      ++iov;
      --n;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
}

/* The environ's keys, made once: a request's names are looked up here by their bytes. */
enum { kMaxKeys = 128 };
static struct {
  size_t len;
  char text[64];
  PyObject *key;
} g_keys[kMaxKeys];
static int g_nkeys;

static PyObject *key_for(const char *p, size_t n) {
  for (int i = 0; i < g_nkeys; ++i) {
    if (g_keys[i].len == n && memcmp(g_keys[i].text, p, n) == 0) return Py_NewRef(g_keys[i].key);
  }
  PyObject *k = PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL);
  if (k == NULL) return NULL;
  if (g_nkeys < kMaxKeys && n <= sizeof g_keys[0].text) {
    PyUnicode_InternInPlace(&k);
    g_keys[g_nkeys].len = n;
    memcpy(g_keys[g_nkeys].text, p, n);
    g_keys[g_nkeys].key = k;  /* kept for the process's life */
    Py_INCREF(k);
    ++g_nkeys;
  }
  return k;  /* a new reference */
}

/* The constant part of every environ. */
static PyObject *g_template;

/* start_response(status, headers[, exc_info]): keeps the status and the headers list. */
static PyObject *g_status;
static PyObject *g_headers;

static PyObject *start_response(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  (void)self;
  if (nargs < 2) {
    PyErr_SetString(PyExc_TypeError, "start_response() takes status and headers");
    return NULL;
  }
  Py_XSETREF(g_status, Py_NewRef(args[0]));
  Py_XSETREF(g_headers, Py_NewRef(args[1]));
  Py_RETURN_NONE;
}

static PyMethodDef g_start_response_def = {
    "start_response", (PyCFunction)(void (*)(void))start_response, METH_FASTCALL, NULL};

/* Builds the environ from the packet's variables; NULL on a malformed packet. */
static PyObject *build_environ(const unsigned char *p, size_t n, size_t *content_length) {
  PyObject *env = PyDict_Copy(g_template);
  if (env == NULL) return NULL;
  *content_length = 0;
  size_t i = 0;
  while (i + 2 <= n) {
    size_t kl = p[i] | (size_t)p[i + 1] << 8;
    i += 2;
    if (i + kl + 2 > n) goto bad;
    const unsigned char *k = p + i;
    i += kl;
    size_t vl = p[i] | (size_t)p[i + 1] << 8;
    i += 2;
    if (i + vl > n) goto bad;
    if (kl == 14 && memcmp(k, "CONTENT_LENGTH", 14) == 0 && vl < 20) {
      char tmp[24];
      memcpy(tmp, p + i, vl);
      tmp[vl] = '\0';
      *content_length = (size_t)strtoull(tmp, NULL, 10);
    }
    PyObject *key = key_for((const char *)k, kl);
    PyObject *value = PyUnicode_DecodeLatin1((const char *)p + i, (Py_ssize_t)vl, NULL);
    int rc = key != NULL && value != NULL ? PyDict_SetItem(env, key, value) : -1;
    Py_XDECREF(key);
    Py_XDECREF(value);
    if (rc != 0) goto bad;
    i += vl;
  }
  return env;
bad:
  Py_DECREF(env);
  return NULL;
}

/* Calls the app and writes its answer; returns nothing, as a floor has no one to tell. */
static void serve(int fd, PyObject *app, PyObject *start, PyObject *env) {
  PyObject *args[2] = {env, start};
  PyObject *result = PyObject_Vectorcall(app, args, 2, NULL);
  if (result == NULL) {
    PyErr_Print();
    return;
  }
  enum { kMaxPieces = 64 };
  struct iovec iov[kMaxPieces + 1];
  int niov = 1;
  PyObject *items = PySequence_Fast(result, "the app's result is not iterable");
  if (items != NULL && g_status != NULL && g_headers != NULL && PyList_Check(g_headers)) {
    char head[4096];
    size_t hl = 0;
    Py_ssize_t sl = 0;
    const char *status = PyUnicode_AsUTF8AndSize(g_status, &sl);
    int ok = status != NULL && (size_t)sl + 13 < sizeof head;
    if (ok) {
      memcpy(head, "HTTP/1.1 ", 9);
      memcpy(head + 9, status, (size_t)sl);
      memcpy(head + 9 + sl, "\r\n", 2);
      hl = 11 + (size_t)sl;
    }
    for (Py_ssize_t h = 0; ok && h < PyList_GET_SIZE(g_headers); ++h) {
      PyObject *pair = PyList_GET_ITEM(g_headers, h);
      Py_ssize_t nl = 0, vl = 0;
      const char *name = PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2
                             ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 0), &nl)
                             : NULL;
      const char *value = name != NULL ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 1), &vl)
                                       : NULL;
      ok = value != NULL && hl + (size_t)nl + (size_t)vl + 6 < sizeof head;
      if (ok) {
        memcpy(head + hl, name, (size_t)nl);
        memcpy(head + hl + nl, ": ", 2);
        memcpy(head + hl + nl + 2, value, (size_t)vl);
        memcpy(head + hl + nl + 2 + vl, "\r\n", 2);
        hl += (size_t)nl + (size_t)vl + 4;
      }
    }
    if (ok) {
      memcpy(head + hl, "\r\n", 2);
      hl += 2;
      iov[0].iov_base = head;
      iov[0].iov_len = hl;
      for (Py_ssize_t b = 0; b < PySequence_Fast_GET_SIZE(items) && niov <= kMaxPieces; ++b) {
        PyObject *chunk = PySequence_Fast_GET_ITEM(items, b);
        if (!PyBytes_Check(chunk)) break;
        iov[niov].iov_base = PyBytes_AS_STRING(chunk);
        iov[niov].iov_len = (size_t)PyBytes_GET_SIZE(chunk);
        ++niov;
      }
      write_all(fd, iov, niov);
    } else {
      PyErr_Clear();
    }
  } else if (items == NULL) {
    PyErr_Print();
  }
  Py_XDECREF(items);
  if (!PyList_CheckExact(result) && PyObject_HasAttrString(result, "close")) {
    PyObject *r = PyObject_CallMethod(result, "close", NULL);
    if (r == NULL) PyErr_Print();
    Py_XDECREF(r);
  }
  Py_DECREF(result);
  Py_CLEAR(g_status);
  Py_CLEAR(g_headers);
}

static PyObject *load_app(const char *file) {
  char *dir_copy = strdup(file);
  char *base_copy = strdup(file);
  if (dir_copy == NULL || base_copy == NULL) {
    free(dir_copy);
    free(base_copy);
    return NULL;
  }
  const char *dir = dirname(dir_copy);
  char *base = basename(base_copy);
  size_t bl = strlen(base);
  if (bl > 3 && strcmp(base + bl - 3, ".py") == 0) base[bl - 3] = '\0';
  PyObject *sys_path = PySys_GetObject("path");
  PyObject *d = PyUnicode_FromString(dir);
  int inserted = sys_path != NULL && d != NULL && PyList_Insert(sys_path, 0, d) == 0;
  Py_XDECREF(d);
  PyObject *module = inserted ? PyImport_ImportModule(base) : NULL;
  free(dir_copy);
  free(base_copy);
  if (module == NULL) return NULL;
  PyObject *app = PyObject_GetAttrString(module, "application");
  Py_DECREF(module);
  return app;
}

static int template_set(const char *key, PyObject *value) {
  if (value == NULL) return -1;
  int rc = PyDict_SetItemString(g_template, key, value);
  Py_DECREF(value);
  return rc;
}

int main(int argc, char **argv) {
  const char *addr;
  int workers;
  const char *file = floor_parse_app_args(argc, argv, &addr, &workers, "FILE.py");
  Py_InitializeEx(0);
  PyObject *app = load_app(file);
  g_template = PyDict_New();
  PyObject *io = PyImport_ImportModule("io");
  PyObject *input = io != NULL ? PyObject_CallMethod(io, "BytesIO", NULL) : NULL;
  PyObject *errors = PySys_GetObject("stderr");
  Py_XINCREF(errors);
  if (app == NULL || g_template == NULL || input == NULL || errors == NULL ||
      template_set("wsgi.version", Py_BuildValue("(ii)", 1, 0)) != 0 ||
      template_set("wsgi.url_scheme", PyUnicode_FromString("http")) != 0 ||
      template_set("wsgi.input", input) != 0 || template_set("wsgi.errors", errors) != 0 ||
      template_set("wsgi.multithread", Py_NewRef(Py_False)) != 0 ||
      template_set("wsgi.multiprocess", Py_NewRef(Py_True)) != 0 ||
      template_set("wsgi.run_once", Py_NewRef(Py_False)) != 0) {
    PyErr_Print();
    fprintf(stderr, "floor_wsgi: cannot load %s\n", file);
    return 1;
  }
  PyObject *start = PyCFunction_New(&g_start_response_def, NULL);
  if (start == NULL) {
    PyErr_Print();
    return 1;
  }
  int lfd = floor_listen(addr, 0);
  floor_fork_workers(workers);
  static unsigned char pkt[65536];
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    unsigned char head[4];
    if (floor_read_full(fd, (char *)head, 4) == 0) {
      size_t size = head[1] | (size_t)head[2] << 8;
      if (floor_read_full(fd, (char *)pkt, size) == 0) {
        size_t left = 0;
        PyObject *env = build_environ(pkt, size, &left);
        if (env != NULL && floor_discard(fd, left) == 0) serve(fd, app, start, env);
        if (env == NULL) PyErr_Clear();
        Py_XDECREF(env);
      }
    }
    close(fd);
  }
}
