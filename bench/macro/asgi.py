#!/usr/bin/python3
# ASGI against uvicorn (issue 19's rows): a raw ASGI hello world and a Starlette JSON endpoint
# over direct HTTP keep-alive, served by kiln (python plugin, `asgi`) and by Debian's uvicorn
# (httptools, uvloop), 2 workers each, no request log on either (uvicorn's access log costs it
# more than kiln's). Rounds alternate kiln and uvicorn; each run is wrk -t2 -c64. Prints req/s
# and server CPU per request (every process of the server, from /proc) per round, then the
# medians and kiln's ratios.
# The `websocket` row: a raw ASGI echo at /ws (uvicorn: python3-websockets), driven by
# bench/ws_load (64 connections, each sending a masked 1 KiB text message and awaiting its echo
# in a loop); messages/s and CPU per message. A server that cannot upgrade shows its errors in
# the row (ws_load counts a refused handshake as one error per connection) instead of failing.
# The `uwsgi` row puts nginx in front (uwsgi_pass to a unix socket) and compares kiln with
# itself: the ASGI hello world against the same answer from a WSGI app, rounds alternating, CPU
# per request counted over kiln's processes only (nginx's is the same for both). The hello row
# runs the floor backend too (below).
# Usage: /usr/bin/python3 bench/macro/asgi.py [--rounds 3] [--seconds 8]
#        [--rows hello,starlette,websocket,uwsgi] [--kiln PATH] [--ws-load PATH]
# Every server runs in a session of its own (procs.Proc), so with the kernel's autogroup
# scheduling each server and wrk share the 2 cores as groups, whatever their thread counts.
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
import procs  # noqa: E402
import servers as sv  # noqa: E402

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'apps')
ROWS = (('hello', '/'), ('starlette', '/json'), ('websocket', '/ws'), ('uwsgi', '/'))
APP_OF_ROW = {'hello': 'hello', 'starlette': 'starlette', 'websocket': 'ws_echo', 'uwsgi': 'hello'}
# Who each row compares: kiln against uvicorn over HTTP; through nginx, kiln's ASGI hello
# against kiln's WSGI hello.
# The hello row also runs the floor (bench/floor/floor_http: an epoll loop that reads a request
# and writes a fixed answer, 2 processes): what no server can beat on this machine with wrk
# sharing its cores, so floor / uvicorn is the most any server could show over uvicorn here.
# And kiln's own WSGI twin of the hello world (`kiln-wsgi`, no event loop, the cheapest Python
# path kiln has): how far a Python app can be served on this machine, whatever the protocol.
PAIRS = {'hello': ('kiln', 'uvicorn', 'floor', 'kiln-wsgi'), 'starlette': ('kiln', 'uvicorn'),
         'websocket': ('kiln', 'uvicorn'), 'uwsgi': ('asgi', 'wsgi')}
WS_CONNECTIONS = 64
WS_MESSAGE = 1024


def start(server, app, port, tmp, kiln):
    addr = f'127.0.0.1:{port}'
    if server in ('asgi', 'wsgi'):  # the uwsgi row: kiln on a unix socket behind nginx
        app_opt = ['--asgi', f'asgi_bench:{app}'] if server == 'asgi' else [
            '--module', 'asgi_bench:wsgi_hello']
        argv = [kiln, '--master', '--processes', str(sv.WORKERS), '--socket',
                f'{tmp}/{server}.sock', '--chmod-socket=666', '--plugins', 'python3',
                '--pythonpath', APPS, '--disable-logging', '--logto', f'{tmp}/kiln-{server}.log']
        return procs.Proc(f'kiln-{server}', argv + app_opt, tmp, f'{tmp}/kiln-{server}.out',
                          env={'PYTHONDONTWRITEBYTECODE': '1'})
    if server == 'floor':
        return sv.floor(tmp, 'floor-hello', 'http', addr, body_bytes=13)
    if server in ('kiln', 'kiln-wsgi'):
        app_opt = ['--asgi', f'asgi_bench:{app}'] if server == 'kiln' else [
            '--module', 'asgi_bench:wsgi_hello']
        argv = [kiln, '--master', '--processes', str(sv.WORKERS), '--http-socket', addr,
                '--plugins', 'python3', '--pythonpath', APPS, *app_opt,
                '--disable-logging', '--logto', f'{tmp}/{server}-{app}.log']
    else:
        argv = ['/usr/bin/python3', '-m', 'uvicorn', f'asgi_bench:{app}', '--host', '127.0.0.1',
                '--port', str(port), '--workers', str(sv.WORKERS), '--loop', 'uvloop', '--http',
                'httptools', '--no-access-log', '--app-dir', APPS]
        if app == 'ws_echo':
            argv += ['--ws', 'websockets']
    return procs.Proc(f'{server}-{app}', argv, tmp, f'{tmp}/{server}-{app}.out',
                      env={'PYTHONDONTWRITEBYTECODE': '1'})


def ws_load(tool, port, path, seconds):
    """Runs bench/ws_load; returns its fields (messages, messages_per_s, errors, ...)."""
    out = subprocess.run([tool, '-c', str(WS_CONNECTIONS), '-d', str(seconds), '-s',
                          str(WS_MESSAGE), f'127.0.0.1:{port}', path],
                         capture_output=True, text=True, timeout=seconds + 30)
    if out.returncode != 0:
        raise RuntimeError(f'ws_load exited {out.returncode}: {out.stderr.strip()}')
    return {k: float(v) for k, v in re.findall(r'(\w+)=([\d.]+)', out.stdout)}


def one_ws_run(server, app, path, tmp, kiln, seconds, tool):
    port = procs.free_port()
    p = start(server, app, port, tmp, kiln)
    try:
        procs.wait_ready(p, '127.0.0.1', port, '/')  # the echo app answers HTTP GETs too
        ws_load(tool, port, path, 2)  # warm-up
        pids = p.pids()
        before = procs.cpu_ticks(pids)
        res = ws_load(tool, port, path, seconds)
        used = procs.cpu_ticks(pids) - before
        messages = res.get('messages', 0)
        cpu_us = procs.ticks_to_us(used) / messages if messages else float('nan')
        return res.get('messages_per_s', 0.0), cpu_us, int(res.get('errors', 0))
    finally:
        p.stop()


def one_run(server, app, path, tmp, kiln, seconds):
    port = procs.free_port()
    front = None
    if server in ('asgi', 'wsgi'):
        p = start(server, app, None, tmp, kiln)
        front = sv.nginx(tmp, f'nginx-{server}', port, 'uwsgi', f'{tmp}/{server}.sock')
    else:
        p = start(server, app, port, tmp, kiln)
    try:
        procs.wait_ready(front or p, '127.0.0.1', port, path)
        measure.wrk(f'http://127.0.0.1:{port}{path}', 2)  # warm-up
        pids = p.pids()
        before = procs.cpu_ticks(pids)
        res = measure.wrk(f'http://127.0.0.1:{port}{path}', seconds)
        used = procs.cpu_ticks(pids) - before
        if res['errors'] or res['non2xx']:
            raise RuntimeError(f'{p.name}: {res["errors"]} socket errors, {res["non2xx"]} '
                               f'non-2xx answers')
        cpu_us = procs.ticks_to_us(used) / max(res['requests'], 1)
        return res['rps'], cpu_us
    finally:
        if front is not None:
            front.stop()
        p.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--seconds', type=int, default=8)
    ap.add_argument('--kiln', default=sv.KILN)
    ap.add_argument('--rows', default='hello,starlette,websocket,uwsgi',
                    help='which of: hello, starlette, websocket, uwsgi')
    ap.add_argument('--ws-load', default=os.path.join(sv.BUILD, 'bench', 'ws_load'),
                    help='the ws_load binary (bench/ws_load)')
    args = ap.parse_args()
    rows = [r for r in ROWS if r[0] in args.rows.split(',')]
    results = {}
    with tempfile.TemporaryDirectory(prefix='kiln-asgi-bench-') as tmp:
        os.chmod(tmp, 0o755)  # nginx workers run as nobody and connect to sockets in here
        try:
            for row, path in rows:
                app = APP_OF_ROW[row]
                for r in range(args.rounds):
                    for server in PAIRS[row]:
                        if row == 'websocket':
                            rps, cpu, errors = one_ws_run(server, app, path, tmp, args.kiln,
                                                          args.seconds, args.ws_load)
                            results.setdefault((row, server), []).append((rps, cpu))
                            print(f'{row:10s} round {r + 1} {server:8s} {rps:9.0f} msg/s '
                                  f'{cpu:7.1f} us CPU/message {errors} errors', flush=True)
                            continue
                        rps, cpu = one_run(server, app, path, tmp, args.kiln, args.seconds)
                        results.setdefault((row, server), []).append((rps, cpu))
                        print(f'{row:10s} round {r + 1} {server:8s} {rps:9.0f} req/s '
                              f'{cpu:7.1f} us CPU/request', flush=True)
        finally:
            procs.stop_all()
    print('\nmedians (kiln / uvicorn; uwsgi row: ASGI / WSGI, both kiln behind nginx)')
    for row, _ in rows:
        a, b = PAIRS[row][:2]
        k = results[(row, a)]
        u = results[(row, b)]
        k_rps, u_rps = statistics.median(x[0] for x in k), statistics.median(x[0] for x in u)
        k_cpu, u_cpu = statistics.median(x[1] for x in k), statistics.median(x[1] for x in u)
        unit = 'msg/s' if row == 'websocket' else 'req/s'
        ratio = f'{k_rps / u_rps:.2f}x' if u_rps > 0 else 'n/a'
        cpu_ratio = f'{k_cpu / u_cpu:.2f}x' if u_cpu > 0 and k_rps > 0 else 'n/a'
        print(f'{row:10s} {a} {k_rps:9.0f} {unit} {k_cpu:6.1f} us | {b} {u_rps:9.0f} {unit} '
              f'{u_cpu:6.1f} us | {unit} {ratio}, CPU/{unit[:-2]} {cpu_ratio}')
        if len(PAIRS[row]) > 2 and u_rps > 0:
            f = results[(row, PAIRS[row][2])]
            f_rps, f_cpu = statistics.median(x[0] for x in f), statistics.median(x[1] for x in f)
            print(f'{"":10s} floor {f_rps:9.0f} {unit} {f_cpu:6.1f} us | floor / uvicorn '
                  f'{f_rps / u_rps:.2f}x (the most any server shows here), kiln / floor '
                  f'{k_rps / f_rps:.2f}x')
        if len(PAIRS[row]) > 3 and u_rps > 0:
            w = results[(row, PAIRS[row][3])]
            w_rps, w_cpu = statistics.median(x[0] for x in w), statistics.median(x[1] for x in w)
            print(f'{"":10s} kiln WSGI {w_rps:9.0f} {unit} {w_cpu:6.1f} us | kiln WSGI / uvicorn '
                  f'{w_rps / u_rps:.2f}x, kiln ASGI / kiln WSGI {k_rps / w_rps:.2f}x')


if __name__ == '__main__':
    main()
