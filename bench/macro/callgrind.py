# Instructions per request on the hello-world path, counted by callgrind, so a regression shows
# without a quiet machine. One kiln process without a master (it serves as its only worker) runs
# under valgrind twice, answering N1 and then N2 requests; (Ir(N2) - Ir(N1)) / (N2 - N1) leaves
# out start-up and shutdown. Run through `run.py --callgrind` for the report; run this file with
# `--check proto=budget` (the CTest perf_instructions_per_request) to fail when a path exceeds
# its budget.
import argparse
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import servers as sv


def _uwsgi_packet(path='/'):
    env = {'REQUEST_METHOD': 'GET', 'REQUEST_URI': path, 'PATH_INFO': path, 'QUERY_STRING': '',
           'SERVER_PROTOCOL': 'HTTP/1.1', 'SERVER_NAME': 'bench', 'SERVER_PORT': '80',
           'REMOTE_ADDR': '127.0.0.1', 'HTTP_HOST': 'bench'}
    body = b''.join(struct.pack('<H', len(k)) + k.encode() + struct.pack('<H', len(v)) +
                    v.encode() for k, v in env.items())
    return struct.pack('<BHB', 0, len(body), 0) + body


def _uwsgi_requests(sock_path, n):
    pkt = _uwsgi_packet()
    for _ in range(n):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(sock_path)
            s.sendall(pkt)
            data = b''
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if b' 200 ' not in data.split(b'\r\n', 1)[0]:
                raise RuntimeError(f'unexpected answer {data[:40]!r}')


def _http_requests(sock_path, n):
    req = b'GET / HTTP/1.1\r\nHost: bench\r\n\r\n'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(sock_path)
        for _ in range(n):
            s.sendall(req)
            data = b''
            while b'Hello, World!\n' not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError('connection closed by kiln')
                data += chunk


def _wait_socket(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'kiln under valgrind exited with {proc.returncode}')
        if os.path.exists(path):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(path)
                return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f'kiln under valgrind did not listen on {path} in {timeout}s')


def _one_run(tmp, proto, n):
    sock = f'{tmp}/cg-{proto}.sock'
    out = f'{tmp}/callgrind.{proto}.{n}.out'
    opt = '--socket' if proto == 'uwsgi' else '--http-socket'
    argv = ['valgrind', '--tool=callgrind', f'--callgrind-out-file={out}', sv.KILN, opt, sock,
            '--wsgi-file', sv.HELLO_PY, '--req-logger', f'file:{tmp}/cg.req.log',
            '--logto', f'{tmp}/cg.log']
    with open(f'{tmp}/cg.valgrind.log', 'ab') as log:
        # A fixed hash seed keeps Python's dict work, and so the count, the same from run to run.
        env = dict(os.environ, PYTHONHASHSEED='0')
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env=env)
        try:
            _wait_socket(sock, p)
            (_uwsgi_requests if proto == 'uwsgi' else _http_requests)(sock, n)
        finally:
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    with open(out) as f:
        text = f.read()
    m = re.search(r'^(?:summary|totals):\s+(\d+)', text, re.M)
    if not m:
        raise RuntimeError(f'no instruction total in {out}')
    return int(m.group(1)), out


def _per_function(out):
    ann = subprocess.run(['callgrind_annotate', '--inclusive=no', '--auto=no', '--threshold=100',
                          out],
                         capture_output=True, text=True).stdout
    funcs = {}
    for ln in ann.splitlines():
        m = re.match(r'^\s*([\d,]+) \([ \d.%]+\)\s+(.*)$', ln)
        if m and 'PROGRAM TOTALS' not in m.group(2):
            name = m.group(2).split(':', 1)[-1].replace('(anonymous namespace)', '{anon}')
            name = re.sub(r'\(.*\)', '', name).strip()[:110]
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(',', ''))
    return funcs


def run(tmp, outdir, n1=200, n2=2200):
    lines = ['# Callgrind: instructions per request (hello world, one kiln process, no master)',
             '', f'(Ir after {n2} requests - Ir after {n1}) / {n2 - n1}, request logging to a '
             "file. User-space instructions only: the kernel's socket work is not counted.", '',
             '| path | instructions per request |', '| --- | --- |']
    details = []
    for proto in ('uwsgi', 'http'):
        ir1, out1 = _one_run(tmp, proto, n1)
        ir2, out2 = _one_run(tmp, proto, n2)
        per = (ir2 - ir1) / (n2 - n1)
        label = ('uwsgi protocol, connection per request' if proto == 'uwsgi'
                 else 'HTTP/1.1 keep-alive')
        lines.append(f'| {label} | {per:,.0f} |')
        print(f'callgrind {proto}: {per:,.0f} instructions per request', flush=True)
        f1, f2 = _per_function(out1), _per_function(out2)
        diff = sorted(((f2[k] - f1.get(k, 0)) / (n2 - n1), k) for k in f2)[::-1][:20]
        details += ['', f'## Own instructions per request by function ({label})', '',
                    '| instructions/request | function |', '| --- | --- |']
        details += [f'| {v:,.0f} | `{k}` |' for v, k in diff if v >= 50]
    with open(f'{outdir}/callgrind.md', 'w') as f:
        f.write('\n'.join(lines + details) + '\n')


def check(budgets, n1=100, n2=600):
    """Counts each path's instructions per request and compares them with `budgets`
    ({'uwsgi': n, 'http': n}); returns the lines describing the paths over budget."""
    tmp = tempfile.mkdtemp(prefix='kc.', dir='/tmp')
    over = []
    try:
        for proto, budget in budgets.items():
            ir1, _ = _one_run(tmp, proto, n1)
            ir2, _ = _one_run(tmp, proto, n2)
            per = (ir2 - ir1) / (n2 - n1)
            verdict = 'within' if per <= budget else 'OVER'
            print(f'{proto}: {per:,.0f} instructions per request, {verdict} the budget of '
                  f'{budget:,}', flush=True)
            if per > budget:
                over.append(f'{proto}: {per:,.0f} > {budget:,}')
    except Exception:
        print(f'valgrind output kept in {tmp}', file=sys.stderr)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return over


def main():
    ap = argparse.ArgumentParser(description='Check the hello-world path against its '
                                 'instructions-per-request budget (callgrind).')
    ap.add_argument('--check', action='append', default=[], metavar='PROTO=BUDGET',
                    help='uwsgi=N or http=N: the most instructions per request allowed')
    args = ap.parse_args()
    budgets = {}
    for item in args.check:
        proto, _, n = item.partition('=')
        if proto not in ('uwsgi', 'http') or not n.isdigit():
            ap.error(f'--check: expected uwsgi=N or http=N, got "{item}"')
        budgets[proto] = int(n)
    if not budgets:
        ap.error('give at least one --check')
    if shutil.which('valgrind') is None:
        sys.exit('valgrind is not installed (Debian package valgrind)')
    over = check(budgets)
    if over:
        sys.exit('instructions per request over budget: ' + '; '.join(over) +
                 '. bench/macro/run.py --callgrind lists the functions per request '
                 '(docs/performance/callgrind.md holds the last committed list).')


if __name__ == '__main__':
    main()
