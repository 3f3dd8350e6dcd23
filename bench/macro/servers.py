# Command lines of every server the macro benchmark starts: kiln, uWSGI 2.0 (Debian), Gunicorn
# (sync), nginx and the floor backends (bench/floor/). All use 2 workers and log requests to a
# file, as in production; nginx fronts the unix-socket rows.
import os
import signal

from procs import Proc

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get('KILN_BUILD_DIR', os.path.join(SRC, 'build'))
KILN = os.path.join(BUILD, 'core', 'kiln')
FLOOR_UWSGI = os.path.join(BUILD, 'bench', 'floor_uwsgi')
FLOOR_HTTP = os.path.join(BUILD, 'bench', 'floor_http')
FLOOR_WSGI = os.path.join(BUILD, 'bench', 'floor_wsgi')
FLOOR_LUA = os.path.join(BUILD, 'bench', 'floor_lua')
HELLO_PY = os.path.join(SRC, 'examples', 'hello', 'hello.py')
FLASK_DIR = os.path.join(SRC, 'examples', 'flask')
BENCH_APP = os.path.join(SRC, 'bench', 'macro', 'apps', 'bench_app.py')
HELLO_LUA = os.path.join(SRC, 'examples', 'lua', 'hello.lua')
BENCH_APPS = os.path.join(SRC, 'bench', 'macro', 'apps')
WORKERS = 2

# app name -> (kiln/uWSGI options, Gunicorn (chdir, app))
_PY_APPS = {
    'hello': (['--wsgi-file', HELLO_PY], (os.path.dirname(HELLO_PY), 'hello:application')),
    'flask': (['--chdir', FLASK_DIR, '--module', 'app:app'], (FLASK_DIR, 'app:app')),
    'bench': (['--wsgi-file', BENCH_APP], (os.path.dirname(BENCH_APP), 'bench_app:application')),
}


def _socket_opts(transport, addr):
    """transport: 'uwsgi' (unix socket for uwsgi_pass) or 'http' (unix path or host:port)."""
    opt = '--socket' if transport == 'uwsgi' else '--http-socket'
    out = [opt, addr]
    if addr.startswith('/'):
        out += ['--chmod-socket=666']
    return out


def _app_opts(app):
    if app == 'lua':
        return ['--lua', HELLO_LUA]
    return list(_PY_APPS[app][0])


def kiln(tmp, tag, app, transport, addr, extra=()):
    argv = [KILN, '--master', '--processes', str(WORKERS), '--logto', f'{tmp}/{tag}.log',
            '--req-logger', f'file:{tmp}/{tag}.req.log']
    if app == 'lua':
        argv += ['--plugins', 'lua']
    argv += _socket_opts(transport, addr) + _app_opts(app) + list(extra)
    return Proc(tag, argv, tmp, f'{tmp}/{tag}.out', env=_env(tmp))


FEATURES = ('stats', 'cheaper', 'asgi', 'script-name', 'fifo', 'logrotate')


def features_ini(tmp, tag, transport, addr, stats_addr, processes=WORKERS, omit=()):
    """The vassal file of the "all features" cells (docs/performance.md, issue 20's second
    pass): the plain hello-world kiln of `kiln()` with every feature of that batch on at once:
    `stats`, the stats server speaking HTTP (the suite scrapes its /metrics once a second);
    `cheaper`, cheaper mode (busyness, sampled every 100 ms, with bounds that keep the worker
    count at `processes` for the run, so the cells compare the same number of workers);
    `asgi`, an ASGI app mounted at /asgi beside the WSGI hello world (every worker runs an
    event loop thread), reached over direct HTTP through `script-name`, manage-script-name
    (every request's PATH_INFO is matched against the mount points); `fifo`, the master FIFO;
    `logrotate`, log rotation by size. `omit` leaves out some of these (callgrind.py, to tell
    which one costs). Run as a vassal of kiln's emperor (`kiln_features`)."""
    lines = ['[uwsgi]', 'master = true', f'processes = {processes}',
             f'logto = {tmp}/{tag}.log', f'req-logger = file:{tmp}/{tag}.req.log',
             ('socket' if transport == 'uwsgi' else 'http-socket') + f' = {addr}',
             f'wsgi-file = {HELLO_PY}']
    if 'stats' not in omit:
        lines += [f'stats = {stats_addr}', 'stats-http = true']
    if 'asgi' not in omit:
        lines += [f'pythonpath = {BENCH_APPS}', 'mount = /asgi=asgi:asgi_hello:hello']
    if 'script-name' not in omit:
        lines += ['manage-script-name = true']
    if 'fifo' not in omit:
        lines += [f'master-fifo = {tmp}/{tag}.fifo']
    if 'logrotate' not in omit:
        lines += ['log-maxsize = 67108864', 'log-backupcount = 2']
    if processes > 1 and 'cheaper' not in omit:  # cheaper mode needs room above its minimum
        lines += [f'cheaper = {processes - 1}', f'cheaper-initial = {processes}',
                  'cheaper-algo = busyness', 'cheaper-busyness-min = 0',
                  'cheaper-busyness-max = 100', 'cheaper-overload = 3600']
    if addr.startswith('/'):
        lines.append('chmod-socket = 666')
    return '\n'.join(lines) + '\n'


def kiln_features(tmp, tag, transport, addr):
    """kiln's hello world with every feature on (features_ini), started as the only vassal of
    `kiln --emperor DIR`. The returned Proc is the emperor; its tree (emperor, the vassal's
    master and workers) is what the suite measures. `proc.scrape` is the stats address to
    scrape (host, port)."""
    import procs
    stats_port = procs.free_port()
    vassals = f'{tmp}/{tag}.vassals'
    os.makedirs(vassals, exist_ok=True)
    for name in os.listdir(vassals):  # an earlier round's file
        os.unlink(os.path.join(vassals, name))
    with open(f'{vassals}/hello.ini.tmp', 'w') as f:
        f.write(features_ini(tmp, tag, transport, addr, f'127.0.0.1:{stats_port}'))
    os.rename(f'{vassals}/hello.ini.tmp', f'{vassals}/hello.ini')
    p = Proc(tag, [KILN, '--emperor', vassals], tmp, f'{tmp}/{tag}.out', env=_env(tmp))
    p.scrape = ('127.0.0.1', stats_port)
    return p


def uwsgi(tmp, tag, app, transport, addr, extra=()):
    plugins = 'lua,logfile' if app == 'lua' else 'python3,logfile'
    argv = ['uwsgi', '--plugins', plugins, '--master', '--processes', str(WORKERS),
            '--die-on-term', '--logto', f'{tmp}/{tag}.log',
            '--req-logger', f'file:{tmp}/{tag}.req.log']
    argv += _socket_opts(transport, addr) + _app_opts(app) + list(extra)
    if app == 'lua':  # uWSGI routes requests to its lua plugin by modifier1 6
        argv += ['--http-socket-modifier1' if transport == 'http' else '--socket-modifier1', '6']
    return Proc(tag, argv, tmp, f'{tmp}/{tag}.out', env=_env(tmp), stop_signal=signal.SIGINT)


def gunicorn(tmp, tag, app, addr):
    chdir, target = _PY_APPS[app][1]
    bind = f'unix:{addr}' if addr.startswith('/') else addr
    argv = ['gunicorn', '-w', str(WORKERS), '-k', 'sync', '-b', bind,
            '--access-logfile', f'{tmp}/{tag}.req.log', '--error-logfile', f'{tmp}/{tag}.log',
            '--chdir', chdir, target]
    return Proc(tag, argv, tmp, f'{tmp}/{tag}.out', env=_env(tmp))


def floor(tmp, tag, transport, addr, body_bytes=14):
    binary = FLOOR_UWSGI if transport == 'uwsgi' else FLOOR_HTTP
    argv = [binary, '-l', addr, '-w', str(WORKERS), '-b', str(body_bytes)]
    return Proc(tag, argv, tmp, f'{tmp}/{tag}.out')


def floor_wsgi(tmp, tag, addr):
    """floor_uwsgi plus a plain embedded-CPython call of the hello world app."""
    argv = [FLOOR_WSGI, '-l', addr, '-w', str(WORKERS), HELLO_PY]
    return Proc(tag, argv, tmp, f'{tmp}/{tag}.out', env={'PYTHONDONTWRITEBYTECODE': '1'})


def floor_lua(tmp, tag, addr):
    """floor_http plus a plain embedded-LuaJIT call of the Lua hello world app."""
    argv = [FLOOR_LUA, '-l', addr, '-w', str(WORKERS), HELLO_LUA]
    return Proc(tag, argv, tmp, f'{tmp}/{tag}.out')


def _env(tmp):
    return {'KILN_BENCH_FILE': f'{tmp}/file-1MiB.bin', 'PYTHONDONTWRITEBYTECODE': '1'}


_NGINX_CONF = """
user nobody nogroup;
worker_processes 1;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/ngx/body;
    proxy_temp_path {tmp}/ngx/proxy;
    fastcgi_temp_path {tmp}/ngx/fastcgi;
    uwsgi_temp_path {tmp}/ngx/uwsgi;
    scgi_temp_path {tmp}/ngx/scgi;
    client_max_body_size 20m;
    {upstream}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            {location}
        }}
    }}
}}
"""


def nginx(tmp, tag, port, mode, backend=None):
    """mode: 'uwsgi' (uwsgi_pass to unix backend), 'proxy' (proxy_pass, keepalive pool) or
    'return' (nginx answers itself)."""
    upstream = ''
    if mode == 'uwsgi':
        upstream = f'upstream backend {{ server unix:{backend}; }}'
        location = 'include /etc/nginx/uwsgi_params; uwsgi_pass backend;'
    elif mode == 'proxy':
        upstream = f'upstream backend {{ server unix:{backend}; keepalive 32; }}'
        location = ('proxy_pass http://backend; proxy_http_version 1.1; '
                    'proxy_set_header Connection "";')
    else:
        location = 'default_type text/plain; return 200 "Hello, World!\\n";'
    os.makedirs(f'{tmp}/ngx', mode=0o777, exist_ok=True)
    os.chmod(f'{tmp}/ngx', 0o777)
    conf = f'{tmp}/{tag}.conf'
    with open(conf, 'w') as f:
        f.write(_NGINX_CONF.format(tmp=tmp, port=port, upstream=upstream, location=location))
    argv = ['nginx', '-e', f'{tmp}/nginx-error.log', '-c', conf, '-g',
            f'pid {tmp}/{tag}.pid; daemon off;']
    return Proc(tag, argv, tmp, f'{tmp}/{tag}.out')
