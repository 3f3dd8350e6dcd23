// The Python half of the `kiln` module, run once when the interpreter starts: the helpers that
// are simpler in Python than in C (app loading, wsgi.errors, wsgi.file_wrapper, hooks) and the
// `uwsgi` / `uwsgidecorators` compatibility modules. The C half is the `_kiln` builtin module.
#pragma once

namespace kiln::python {

inline constexpr const char kBootstrapSource[] = R"PY(
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types

import _kiln

version = _kiln.version


def worker_id():
    """This process's worker id: 1..numproc in a worker, 0 in the master."""
    return _kiln.worker_id()


def _build_opt():
    opt = {}
    for key, value in _kiln.config_entries():
        if key in opt:
            old = opt[key]
            opt[key] = (old if isinstance(old, list) else [old]) + [value]
        else:
            opt[key] = value
    return opt


opt = _build_opt()
numproc = _kiln.worker_count()
threads = _kiln.thread_count()


def reload():
    """Asks the master for a graceful reload (as SIGHUP does). Returns True when passed on."""
    return _kiln.reload()


def log(message):
    """Writes one message to the server log."""
    _kiln.log(1, str(message))


_postfork_hooks = []
_atexit_hooks = []


def postfork(fn):
    """Decorator: run fn() in every worker right after it starts (after fork)."""
    _postfork_hooks.append(fn)
    return fn


def atexit(fn):
    """Decorator: run fn() in a worker that exits gracefully."""
    _atexit_hooks.append(fn)
    return fn


class ErrorStream:
    """wsgi.errors: text written here goes to the server log, one log line per line.
    One instance serves every request; a partial line waits in its thread's buffer."""

    def __init__(self):
        self._local = threading.local()

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError('wsgi.errors.write() takes str, not %s' % type(text).__name__)
        pending = getattr(self._local, 'pending', '') + text
        while '\n' in pending:
            line, pending = pending.split('\n', 1)
            _kiln.log(3, line)
        self._local.pending = pending
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pending = getattr(self._local, 'pending', '')
        if pending:
            _kiln.log(3, pending)
            self._local.pending = ''


errors = ErrorStream()


class FileWrapper:
    """wsgi.file_wrapper: a file object with a real descriptor is sent with sendfile()."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def _load_file(path):
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise FileNotFoundError('wsgi file %r does not exist (looked for %s)' % (path, full))
    name = 'kiln_file_' + ''.join(c if c.isalnum() or c == '_' else '_' for c in full)
    loader = importlib.machinery.SourceFileLoader(name, full)
    spec = importlib.util.spec_from_file_location(name, full, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load_paste(uri, paste_logger):
    """paste: loads a PasteDeploy app as uWSGI does (paste.deploy.loadapp(uri)); a bare path
    means `config:PATH`, and a relative one is relative to the working directory.
    paste-logger first applies the file's [loggers] sections (logging.config.fileConfig)."""
    scheme, sep, rest = uri.partition(':')
    if not sep or '/' in scheme:
        scheme, rest = 'config', uri
    if scheme == 'config' and paste_logger:
        import logging.config
        full = os.path.abspath(rest)
        logging.config.fileConfig(
            full, defaults={'here': os.path.dirname(full), '__file__': full},
            disable_existing_loggers=False)
    try:
        from paste.deploy import loadapp
    except ImportError as e:
        raise ImportError('paste = %s needs PasteDeploy (Debian: python3-pastedeploy; pip: '
                          'PasteDeploy): %s' % (uri, e)) from None
    return loadapp('%s:%s' % (scheme, rest), relative_to=os.getcwd())


def _load(target, default_callable, kind, paste_logger=False):
    """Loads `pkg.mod[:callable]`, `pkg.mod:factory()` or a file path (kind 'module' or
    'file'), or a PasteDeploy URI (kind 'paste'); returns the callable."""
    if kind == 'paste':
        return _load_paste(target, paste_logger)
    is_file = kind == 'file'
    if is_file:
        name, attr = target, default_callable
    else:
        name, sep, attr = target.partition(':')
        if not sep or not attr:
            attr = default_callable
    # `mysite.wsgi` is a module (Django's layout); `app.wsgi` is a file when it exists.
    looks_like_file = '/' in name or (name.endswith(('.py', '.wsgi')) and os.path.isfile(name))
    if is_file or looks_like_file:
        module = _load_file(name)
    else:
        module = importlib.import_module(name)
    factory = attr.endswith('()')
    if factory:
        attr = attr[:-2]
    app = module
    for part in attr.split('.'):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise AttributeError(
                '%s has no attribute %r: no WSGI callable %r there (set `callable`, or write '
                '`module = %s:NAME`)' % (name, part, attr, name)) from None
    if factory:
        app = app()
    if not callable(app):
        raise TypeError('%s:%s is a %s, not a callable WSGI application'
                        % (name, attr, type(app).__name__))
    return app


def _set_argv(words):
    """pyargv: sys.argv is ['kiln'] and the words, as uWSGI's ['uwsgi', ...]."""
    sys.argv = ['kiln'] + words.split()


def _alias_module(alias):
    """pymodule-alias `name=module` (another module) or `name=path/file.py` (a file)."""
    name, sep, target = alias.partition('=')
    if not sep or not name or not target:
        raise ValueError('pymodule-alias %r: expected name=module or name=/path/to/file.py'
                         % alias)
    if '/' in target:
        spec = importlib.util.spec_from_file_location(name, target)
        if spec is None:
            raise ImportError('pymodule-alias %r: cannot load %s' % (alias, target))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    else:
        sys.modules[name] = importlib.import_module(target)


def _format_exception(exc):
    import traceback  # only on errors: it costs milliseconds at every start
    return ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip('\n')


def _run_hooks(hooks, what):
    for hook in hooks:
        try:
            hook()
        except Exception as exc:
            _kiln.log(4, '%s hook %r failed:\n%s' % (what, hook, _format_exception(exc)))


def _run_postfork():
    hooks = list(_postfork_hooks)
    legacy = getattr(sys.modules.get('uwsgi'), 'post_fork_hook', None)
    if callable(legacy):
        hooks.append(legacy)
    _run_hooks(hooks, 'post-fork')


def _run_atexit():
    hooks = list(_atexit_hooks)
    legacy = getattr(sys.modules.get('uwsgi'), 'atexit', None)
    if callable(legacy):
        hooks.append(legacy)
    _run_hooks(hooks, 'atexit')


def _module_files():
    files = {}
    for module in list(sys.modules.values()):
        path = getattr(module, '__file__', None)
        if isinstance(path, str):
            try:
                files[path] = os.stat(path).st_mtime_ns
            except OSError:
                pass
    return files


def _start_autoreload(interval):
    def watch():
        seen = _module_files()
        while True:
            threading.Event().wait(interval)
            now = _module_files()
            for path, mtime in now.items():
                if path in seen and seen[path] != mtime:
                    _kiln.log(2, 'py-autoreload: %s changed, reloading' % path)
                    _kiln.reload()
                    return
            seen.update(now)
    threading.Thread(target=watch, name='kiln-py-autoreload', daemon=True).start()


SPOOL_OK = -2
SPOOL_RETRY = -1
SPOOL_IGNORE = 0


def _spool_bytes(value):
    # uWSGI under Python 3 takes bytes only; kiln also takes str (as UTF-8) and other values
    # by their str(), which is what uwsgidecorators' callers mean.
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value).encode('utf-8')


def spool(*args, **kwargs):
    """uwsgi.spool(dict) or uwsgi.spool(**kwargs): writes a task for the spooler and returns
    its file's path (bytes, as uWSGI). `body` (bytes or str) goes after the arguments, without
    their 64k limit; `spooler`, `priority` and `at` steer the task."""
    if args:
        if len(args) != 1 or not isinstance(args[0], dict):
            raise ValueError('The argument of spooler callable must be a dictionary')
        task = dict(args[0])
    else:
        task = dict(kwargs)
    body = b''
    for key in ('body', b'body'):
        if isinstance(task.get(key), (bytes, str)):
            body = _spool_bytes(task.pop(key))
    return _kiln.spool([(_spool_bytes(k), _spool_bytes(v)) for k, v in task.items()], body)


def _run_spooler(path, pairs, body):
    """A spooler process's task: calls uwsgi.spooler with uWSGI's dict (bytes keys and values,
    plus 'spooler_task_name' and 'body'). An exception is logged and the task retried."""
    fn = getattr(sys.modules.get('uwsgi'), 'spooler', None)
    if not callable(fn):
        return SPOOL_IGNORE
    task = {'spooler_task_name': path.encode()}
    for key, value in pairs:
        task[key] = value
    if body:
        task['body'] = body
    try:
        ret = fn(task)
    except Exception as exc:
        _kiln.log(4, 'spooler task %s raised; it stays for the next scan:\n%s'
                  % (path, _format_exception(exc)))
        return SPOOL_RETRY
    if isinstance(ret, bool) or not isinstance(ret, int):
        return SPOOL_RETRY  # as uWSGI: anything but an int keeps the task
    return ret


_spool_functions = {}


def _text(value):
    if isinstance(value, bytes):
        try:
            return value.decode('utf-8')
        except UnicodeDecodeError:
            return value
    return value


def _run_decorated_task(task):
    """uwsgi.spooler as uwsgidecorators sets it: the task names the decorated function."""
    import pickle
    task = dict((_text(k), v) for k, v in task.items())
    fn = _spool_functions[_text(task['ud_spool_func'])]
    if 'args' in task:
        ret = fn(*pickle.loads(task.pop('args')), **pickle.loads(task.pop('kwargs')))
    else:
        ret = fn(dict((k, _text(v)) for k, v in task.items()))
    if 'ud_spool_ret' in task:
        return int(_text(task['ud_spool_ret']))
    return ret


def _spool_decorator(ret):
    """uwsgidecorators' @spool (ret SPOOL_OK), @spoolforever (SPOOL_RETRY) and @spoolraw
    (the function's own return), with or without (pass_arguments=True)."""
    def decorator(f=None, pass_arguments=False):
        def wrap(fn):
            _spool_functions[fn.__name__] = fn
            uwsgi = sys.modules['uwsgi']
            if getattr(uwsgi, 'spooler', None) is None:
                uwsgi.spooler = _run_decorated_task

            def enqueue(*args, **kwargs):
                import pickle
                task = {'ud_spool_func': fn.__name__}
                if ret is not None:
                    task['ud_spool_ret'] = str(ret)
                if pass_arguments:
                    for key in ('spooler', 'priority', 'at', 'body'):
                        if key in kwargs:
                            task[key] = kwargs.pop(key)
                    task['args'] = pickle.dumps(args)
                    task['kwargs'] = pickle.dumps(kwargs)
                else:
                    if args:
                        task.update(args[0])
                    task.update(kwargs)
                return spool(task)
            enqueue.spool = enqueue
            fn.spool = enqueue
            return enqueue
        return wrap(f) if f is not None else wrap
    return decorator


def _make_uwsgi_modules():
    uwsgi = types.ModuleType('uwsgi', 'uWSGI compatibility: the calls Flask apps commonly make.')
    uwsgi.opt = opt
    uwsgi.numproc = numproc
    uwsgi.cores = threads
    uwsgi.has_threads = True
    uwsgi.version = ('kiln ' + version).encode()
    uwsgi.hostname = os.uname().nodename.encode()
    uwsgi.worker_id = worker_id
    uwsgi.mule_id = lambda: 0
    uwsgi.masterpid = lambda: _kiln.master_pid()
    uwsgi.reload = reload
    uwsgi.log = log
    uwsgi.post_fork_hook = None
    uwsgi.atexit = None
    uwsgi.applications = None
    uwsgi.is_a_reload = False
    # The user locks (`locks = N`): shared by every worker, as uWSGI's.
    uwsgi.lock = _kiln.lock
    uwsgi.unlock = _kiln.unlock
    uwsgi.is_locked = _kiln.is_locked
    uwsgi.spool = spool
    uwsgi.send_to_spooler = spool
    uwsgi.spooler = None  # the app assigns its spooler callable here
    uwsgi.SPOOL_OK = SPOOL_OK
    uwsgi.SPOOL_RETRY = SPOOL_RETRY
    uwsgi.SPOOL_IGNORE = SPOOL_IGNORE
    sys.modules['uwsgi'] = uwsgi

    deco = types.ModuleType('uwsgidecorators',
                            'uWSGI decorators kiln provides: postfork, thread, lock, '
                            'spool, spoolforever, spoolraw.')
    deco.postfork = postfork

    def thread(fn):
        def start(*args, **kwargs):
            threading.Thread(target=fn, args=args, kwargs=kwargs, daemon=True).start()
        return start

    def lock(fn):
        """As uWSGI's: the function runs holding user lock 0, shared by every worker."""
        def locked(*args, **kwargs):
            _kiln.lock(0)
            try:
                return fn(*args, **kwargs)
            finally:
                _kiln.unlock(0)
        return locked

    deco.thread = thread
    deco.lock = lock
    deco.spool = _spool_decorator(SPOOL_OK)
    deco.spoolforever = _spool_decorator(SPOOL_RETRY)
    deco.spoolraw = _spool_decorator(None)
    sys.modules['uwsgidecorators'] = deco


_make_uwsgi_modules()
)PY";

}  // namespace kiln::python
