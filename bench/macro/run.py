#!/usr/bin/python3
# The macro benchmark: kiln against uWSGI 2.0, Gunicorn, nginx and the floor backends
# (bench/floor/) on this machine, in one run, servers alternating across rounds. Writes
# docs/performance/results.md, results.csv and results.png. Usage (docs/performance.md):
#   /usr/bin/python3 bench/macro/run.py [--quick] [--rows 1,2,3] [--rounds N] [--duration S]
#                                       [--features-only] [--callgrind]
import argparse
import os
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import servers as sv  # noqa: E402

H = '127.0.0.1'
# The cell of kiln's hello world with stats + Prometheus scrapes, cheaper mode, an ASGI mount,
# the master FIFO and log rotation on, run as an emperor's vassal (servers.features_ini).
FEATURES = 'kiln, all features'
FLOOR_PY = 'floor + CPython'  # bench/floor/floor_wsgi.c
FLOOR_LUA = 'floor + LuaJIT'  # bench/floor/floor_lua.c


class Cell:
    """One server in one row: start() returns (backend Proc, front Proc or None, url)."""

    def __init__(self, row, variant, server, role, start, path='/', wrk_opts=None):
        self.row, self.variant, self.server, self.role = row, variant, server, role
        self.start, self.path, self.wrk_opts = start, path, wrk_opts or {}
        self.runs = []  # one dict per round
        self.failures = []

    @property
    def key(self):
        return (self.row, self.variant, self.server)


def _behind_nginx(tmp, tag, mode, backend_start):
    sock = f'{tmp}/{tag}.sock'
    back = backend_start(sock)
    port = procs.free_port()
    front = sv.nginx(tmp, f'{tag}-nginx', port, mode, sock)
    return back, front, f'http://{H}:{port}'


def _direct(start):
    port = procs.free_port()
    return start(f'{H}:{port}'), None, f'http://{H}:{port}'


def build_cells(tmp, rows):
    cells = []

    def add(*a, **k):
        cells.append(Cell(*a, **k))

    if 1 in rows:
        # Each variant's cells run back to back, in this order forward and backward: the floor
        # next to kiln, and kiln next to its variants, so the ratios a target reads come from
        # cells seconds apart (the machine's speed drifts over minutes; docs/performance.md).
        for app, path in (('hello', '/'), ('flask', '/api/v1/health')):
            v = f'uwsgi_pass {app}'
            if app == 'hello':  # the floor's calls plus a plain WSGI call in CPython
                add(1, v, FLOOR_PY, 'ref', lambda t=tmp: _behind_nginx(
                    t, 'f1w', 'uwsgi', lambda s: sv.floor_wsgi(t, 'f1w', s)), path)
            add(1, v, 'floor', 'floor', lambda t=tmp: _behind_nginx(
                t, 'f1', 'uwsgi', lambda s: sv.floor(t, 'f1', 'uwsgi', s)), path)
            add(1, v, 'kiln', 'kiln', lambda t=tmp, a=app: _behind_nginx(
                t, 'k1', 'uwsgi', lambda s: sv.kiln(t, 'k1', a, 'uwsgi', s)), path)
            if app == 'hello':
                # every feature of issue 20's batch on at once, as an emperor's vassal
                add(1, v, FEATURES, 'kiln', lambda t=tmp: _behind_nginx(
                    t, 'k1f', 'uwsgi', lambda s: sv.kiln_features(t, 'k1f', 'uwsgi', s)), path)
                # the stats server on (docs/operations.md): its counters must cost nothing
                add(1, v, 'kiln, stats', 'kiln', lambda t=tmp, a=app: _behind_nginx(
                    t, 'k1s', 'uwsgi', lambda s: sv.kiln(
                        t, 'k1s', a, 'uwsgi', s, extra=('--stats', f'{t}/k1s.stats'))), path)
                # kiln writing one request line per write(), as uWSGI does
                add(1, v, 'kiln, log unbatched', 'kiln', lambda t=tmp, a=app: _behind_nginx(
                    t, 'k1u', 'uwsgi', lambda s: sv.kiln(
                        t, 'k1u', a, 'uwsgi', s, extra=('--request-log-buffer', '0'))), path)
            add(1, v, 'uWSGI', 'peer', lambda t=tmp, a=app: _behind_nginx(
                t, 'u1', 'uwsgi', lambda s: sv.uwsgi(t, 'u1', a, 'uwsgi', s)), path)
    if 2 in rows:
        v = 'proxy_pass keepalive hello'
        add(2, v, 'kiln', 'kiln', lambda t=tmp: _behind_nginx(
            t, 'k2', 'proxy', lambda s: sv.kiln(t, 'k2', 'hello', 'http', s)))
        add(2, v, 'floor', 'floor', lambda t=tmp: _behind_nginx(
            t, 'f2', 'proxy', lambda s: sv.floor(t, 'f2', 'http', s)))
    if 3 in rows:
        for ka in (True, False):
            v = 'direct keep-alive hello' if ka else 'direct close hello'
            opts = {} if ka else {'headers': ['Connection: close']}
            add(3, v, 'floor', 'floor', lambda t=tmp: _direct(
                lambda a: sv.floor(t, 'f3', 'http', a)), wrk_opts=opts)
            add(3, v, 'kiln', 'kiln', lambda t=tmp: _direct(
                lambda a: sv.kiln(t, 'k3', 'hello', 'http', a)), wrk_opts=opts)
            add(3, v, FEATURES, 'kiln', lambda t=tmp: _direct(
                lambda a: sv.kiln_features(t, 'k3f', 'http', a)), wrk_opts=opts)
            add(3, v, 'uWSGI', 'peer', lambda t=tmp: _direct(
                lambda a: sv.uwsgi(t, 'u3', 'hello', 'http', a)), wrk_opts=opts)
            add(3, v, 'Gunicorn', 'peer2', lambda t=tmp: _direct(
                lambda a: sv.gunicorn(t, 'g3', 'hello', a)), wrk_opts=opts)
            add(3, v, 'nginx return 200', 'ref', lambda t=tmp: _direct(
                lambda a: sv.nginx(t, 'n3', int(a.split(':')[1]), 'return')), wrk_opts=opts)
    if 4 in rows:
        for size, label in ((16 * 1024, '16KiB'), (1024 * 1024, '1MiB')):
            script = measure.post_script(f'{tmp}/post-{label}.lua', size)
            v = f'direct POST {label}'
            opts = {'script': script}
            add(4, v, 'kiln', 'kiln', lambda t=tmp: _direct(
                lambda a: sv.kiln(t, 'k4', 'bench', 'http', a)), wrk_opts=opts)
            add(4, v, 'uWSGI', 'peer', lambda t=tmp: _direct(
                lambda a: sv.uwsgi(t, 'u4', 'bench', 'http', a)), wrk_opts=opts)
            add(4, v, 'Gunicorn', 'peer2', lambda t=tmp: _direct(
                lambda a: sv.gunicorn(t, 'g4', 'bench', a)), wrk_opts=opts)
            add(4, v, 'floor', 'floor', lambda t=tmp: _direct(
                lambda a: sv.floor(t, 'f4', 'http', a)), wrk_opts=opts)
    if 5 in rows:
        v = 'direct file_wrapper 1MiB'
        add(5, v, 'kiln', 'kiln', lambda t=tmp: _direct(
            lambda a: sv.kiln(t, 'k5', 'bench', 'http', a)), '/file')
        add(5, v, 'uWSGI', 'peer', lambda t=tmp: _direct(
            lambda a: sv.uwsgi(t, 'u5', 'bench', 'http', a)), '/file')
        add(5, v, 'Gunicorn', 'peer2', lambda t=tmp: _direct(
            lambda a: sv.gunicorn(t, 'g5', 'bench', a)), '/file')
        add(5, v, 'floor', 'floor', lambda t=tmp: _direct(
            lambda a: sv.floor(t, 'f5', 'http', a, body_bytes=1 << 20)), '/file')
    if 6 in rows:
        v = 'direct keep-alive Lua hello'
        add(6, v, FLOOR_LUA, 'ref', lambda t=tmp: _direct(  # the floor plus a plain Lua call
            lambda a: sv.floor_lua(t, 'f6l', a)))
        add(6, v, 'floor', 'floor', lambda t=tmp: _direct(
            lambda a: sv.floor(t, 'f6', 'http', a)))
        add(6, v, 'kiln', 'kiln', lambda t=tmp: _direct(
            lambda a: sv.kiln(t, 'k6', 'lua', 'http', a)))
        add(6, v, 'uWSGI', 'peer', lambda t=tmp: _direct(
            lambda a: sv.uwsgi(t, 'u6', 'lua', 'http', a)))
    return cells


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def run_cell(cell, duration, warmup):
    back, front, url = cell.start()
    scraper = None
    try:
        host, port = url.split('//')[1].split(':')
        procs.wait_ready(front or back, host, int(port), cell.path)
        if getattr(back, 'scrape', None):  # the "all features" cells: the ASGI mount answers,
            procs.wait_ready(back, host, int(port), '/asgi')  # and /metrics is scraped each s
            scraper = measure.Scraper(*back.scrape)
            scraper.start()
        if warmup:
            measure.wrk(url + cell.path, warmup, **cell.wrk_opts)
        back_pids, front_pids = back.pids(), (front.pids() if front else [])
        c0b, c0f = procs.cpu_ticks(back_pids), procs.cpu_ticks(front_pids)
        res = measure.wrk(url + cell.path, duration, **cell.wrk_opts)
        c1b, c1f = procs.cpu_ticks(back.pids()), procs.cpu_ticks(front.pids() if front else [])
        if scraper:
            scraper.stop()
            res['scrapes'], res['scrapes_failed'] = scraper.ok, scraper.failed
            if scraper.failed:
                res['note'] = f'{scraper.failed} failed scrapes ({scraper.last_error})'
        n = max(res['requests'], 1)
        res['cpu_us'] = procs.ticks_to_us(c1b - c0b) / n
        res['front_cpu_us'] = procs.ticks_to_us(c1f - c0f) / n if front else None
        if cell.row == 3 and 'keep-alive' in cell.variant:
            res['served_conns'] = measure.keepalive_served(host, int(port))
        if res['requests'] == 0:
            res['note'] = f'no answers; see {back.log_path}'
        return res
    finally:
        if scraper:
            scraper.stop()
        if front:
            front.stop()
        back.stop()


def run_reloads(tmp, reloads):
    """Row 7: SIGHUP every time the previous reload finished, under load."""
    out = []
    for name, start, marker in (
            ('kiln', lambda a: sv.kiln(tmp, 'k7', 'hello', 'http', a),
             'reload: the new generation is accepting'),
            ('uWSGI', lambda a: sv.uwsgi(tmp, 'u7', 'hello', 'http', a),
             "WSGI app 0 (mountpoint='') ready")):
        port = procs.free_port()
        p = start(f'{H}:{port}')
        log = f'{tmp}/{"k7" if name == "kiln" else "u7"}.log'
        try:
            procs.wait_ready(p, H, port)
            load = measure.ReloadLoad(H, port)
            load.start()
            time.sleep(1.0)
            t0 = time.monotonic()
            done = 0
            for _ in range(reloads):
                before = _count(log, marker)
                os.kill(p.pid, signal.SIGHUP)
                deadline = time.monotonic() + 20
                while _count(log, marker) <= before and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _count(log, marker) > before:
                    done += 1
                time.sleep(0.3)
            elapsed = time.monotonic() - t0
            time.sleep(1.0)
            load.stop()
            lat = sorted(load.lat_ms)
            out.append({'server': name, 'reloads': done, 'requests': len(lat),
                        'failed': load.failed, 'fail_kinds': load.fail_kinds,
                        'slow_100ms': sum(1 for x in lat if x > 100.0),
                        'max_ms': lat[-1] if lat else None, 'seconds': elapsed,
                        'p99_ms': lat[int(len(lat) * 0.99)] if lat else None})
        finally:
            p.stop()
    return out


def _count(path, marker):
    try:
        with open(path, errors='replace') as f:
            return f.read().count(marker)
    except OSError:
        return 0


def run_startup_rss(tmp, rounds):
    """Rows 8 and 9: seconds to the first answered request; RSS/PSS after 2000 requests."""
    out = {}
    starters = (('kiln', lambda a: sv.kiln(tmp, 'k8', 'hello', 'http', a)),
                ('uWSGI', lambda a: sv.uwsgi(tmp, 'u8', 'hello', 'http', a)),
                ('Gunicorn', lambda a: sv.gunicorn(tmp, 'g8', 'hello', a)),
                ('kiln flask', lambda a: sv.kiln(tmp, 'k8f', 'flask', 'http', a)),
                ('uWSGI flask', lambda a: sv.uwsgi(tmp, 'u8f', 'flask', 'http', a)),
                ('Gunicorn flask', lambda a: sv.gunicorn(tmp, 'g8f', 'flask', a)))
    for r in range(rounds):
        for name, start in starters:
            port = procs.free_port()
            p = start(f'{H}:{port}')
            try:
                t = procs.wait_ready(p, H, port)
                measure.wrk(f'http://{H}:{port}/', 1, connections=8)
                pids = p.pids()
                mem = [procs.memory_kib(pid) for pid in pids]
                d = out.setdefault(name, {'startup_s': [], 'master_rss': [], 'worker_rss': [],
                                          'total_pss': [], 'nproc': len(pids)})
                d['startup_s'].append(t)
                d['master_rss'].append(mem[0][0])
                workers = [m[0] for m in mem[1:]] or [mem[0][0]]
                d['worker_rss'].append(sum(workers) / len(workers))
                d['total_pss'].append(sum(m[1] for m in mem))
            finally:
                p.stop()
    return out


def app_cost_us():
    """In-process cost of one call of the WSGI apps (no server), in microseconds."""
    code = r'''
import sys, time, io
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
from werkzeug.test import EnvironBuilder
import hello, app as flaskapp
def cost(appfn, path, n):
    env = EnvironBuilder(path=path).get_environ()
    def sr(s, h, e=None): pass
    for _ in range(200): b''.join(appfn(dict(env), sr))
    t = time.perf_counter()
    for _ in range(n): b''.join(appfn(dict(env), sr))
    return (time.perf_counter() - t) / n * 1e6
print(cost(hello.application, '/', 20000), cost(flaskapp.app, '/api/v1/health', 5000))
'''
    import subprocess
    out = subprocess.run([sys.executable, '-B', '-c', code, os.path.dirname(sv.HELLO_PY),
                          sv.FLASK_DIR], capture_output=True, text=True, timeout=120)
    try:
        h, f = out.stdout.split()
        return {'hello': float(h), 'flask': float(f)}
    except ValueError:
        return {'error': out.stderr.strip()[-300:]}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--quick', action='store_true', help='1 round of 3 s per cell (smoke run)')
    ap.add_argument('--rows', default='1,2,3,4,5,6,7,8,9', help='rows to run, e.g. 1,3,7')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=int, default=5, help='seconds of wrk per cell and round')
    ap.add_argument('--reloads', type=int, default=30)
    ap.add_argument('--out', default=os.path.join(sv.SRC, 'docs', 'performance'))
    ap.add_argument('--features-only', action='store_true',
                    help='only the cells "kiln" and "kiln, all features" of the hello world in '
                    'the rows given (1 and 3 have both): more rounds of that comparison in the '
                    'same time')
    ap.add_argument('--callgrind', action='store_true',
                    help='only count instructions per request under callgrind (callgrind.md)')
    args = ap.parse_args()
    if args.callgrind:
        import callgrind
        tmp = tempfile.mkdtemp(prefix='kc.', dir='/tmp')
        os.makedirs(args.out, exist_ok=True)
        callgrind.run(tmp, args.out)
        print(f'wrote {args.out}/callgrind.md (valgrind output in {tmp})')
        return
    try:
        rows = {int(x) for x in args.rows.split(',') if x.strip()}
    except ValueError:
        sys.exit(f'--rows: expected comma-separated row numbers 1-9, got "{args.rows}"')
    if not rows <= set(range(1, 10)):
        sys.exit(f'--rows: rows are 1 to 9, got "{args.rows}"')
    rounds, duration, warmup = args.rounds, args.duration, 1
    if args.quick:
        rounds, duration, warmup = 1, 3, 1
    floor_lua = (sv.FLOOR_LUA,) if 6 in rows else ()  # built with the lua plugin
    for binary in (sv.KILN, sv.FLOOR_UWSGI, sv.FLOOR_HTTP, sv.FLOOR_WSGI) + floor_lua:
        if not os.access(binary, os.X_OK):
            sys.exit(f'{binary} is missing: build it first (cmake --build {sv.BUILD} --target '
                     'kiln python_plugin lua_plugin logfile_plugin kiln_floor)')

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    tmp = tempfile.mkdtemp(prefix='kb.', dir='/tmp')
    os.chmod(tmp, 0o755)  # nginx workers run as nobody and connect to sockets in here
    with open(f'{tmp}/file-1MiB.bin', 'wb') as f:
        f.write(b'x' * (1 << 20))
    meta = {'started': time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
            'rounds': rounds, 'duration': duration, 'loadavg': [], 'tmp': tmp,
            'command': ' '.join(sys.argv)}
    cells = build_cells(tmp, rows)
    if args.features_only:
        cells = [c for c in cells if c.server in ('kiln', FEATURES) and 'hello' in c.variant]
    extra = {}
    try:
        for r in range(rounds):
            la0 = loadavg()
            order = cells if r % 2 == 0 else list(reversed(cells))
            for cell in order:
                print(f'round {r + 1}/{rounds} row {cell.row} {cell.variant}: {cell.server}',
                      flush=True)
                try:
                    res = run_cell(cell, duration, warmup)
                except RuntimeError as e:  # one server failing does not end the run
                    print(f'    failed: {e}', flush=True)
                    cell.failures.append(str(e))
                    continue
                cell.runs.append(res)
                print(f'    {res["rps"]:.0f} req/s  p99 {res["p99_ms"]} ms  '
                      f'cpu {res["cpu_us"]:.1f} us/req' +
                      (f'  {res["scrapes"]} scrapes' if 'scrapes' in res else '') +
                      (f'  ({res["note"]})' if 'note' in res else ''), flush=True)
            meta['loadavg'].append((r + 1, la0, loadavg()))
        if 7 in rows:
            print('row 7: reloads under load', flush=True)
            extra['reloads'] = run_reloads(tmp, args.reloads)
        if 8 in rows or 9 in rows:
            print('rows 8-9: start-up time and memory', flush=True)
            extra['startup'] = run_startup_rss(tmp, rounds)
        if 1 in rows:
            extra['app_cost'] = app_cost_us()
    except KeyboardInterrupt:
        print('interrupted: stopping every server started', file=sys.stderr)
        procs.stop_all()
        sys.exit(130)
    finally:
        procs.stop_all()
    meta['finished'] = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())
    os.makedirs(args.out, exist_ok=True)
    report.write(args.out, cells, extra, meta)
    print(f'wrote {args.out}/results.md, results.csv, results.png (server logs in {tmp})')


if __name__ == '__main__':
    main()
