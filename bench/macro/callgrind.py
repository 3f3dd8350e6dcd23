# Instructions per request on the hello-world path, counted by callgrind, so a regression shows
# without a quiet machine. One kiln process without a master (it serves as its only worker) runs
# under valgrind twice, answering N1 and then N2 requests; (Ir(N2) - Ir(N1)) / (N2 - N1) leaves
# out start-up and shutdown. Run through `run.py --callgrind` for the report; run this file with
# `--check proto=budget` (the CTest perf_instructions_per_request) to fail when a path exceeds
# its budget. The same runs count the calls that reach the C allocator (malloc and its kin,
# operator new included, since it calls malloc; CPython's small-object allocator does not reach
# it), per request: `--allocs proto=N` fails above N.
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


# The C allocator's entry points: what reaches malloc, whoever called it.
_ALLOC_FUNCTIONS = {'malloc', 'calloc', 'realloc', 'posix_memalign', 'aligned_alloc', 'memalign'}


def _alloc_calls(out):
    """Calls into the C allocator recorded in a callgrind output file, by caller (the caller of
    operator new for the calls that came through it)."""
    names = {}

    def name(tok):  # callgrind compresses names: "(12) malloc" defines, "(12)" refers
        m = re.match(r'\((\d+)\)(?: (.*))?', tok)
        if not m:
            return tok
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), tok)

    fn = cfn = None
    by_caller, via_new = {}, {}
    with open(out) as f:
        for ln in f:
            if ln.startswith('fn='):
                fn = name(ln[3:].strip())
            elif ln.startswith('cfn='):
                cfn = name(ln[4:].strip())
            elif ln.startswith('calls='):
                if cfn in _ALLOC_FUNCTIONS:
                    by_caller[fn] = by_caller.get(fn, 0) + int(ln[6:].split()[0])
                elif cfn.startswith('operator new') and not fn.startswith('operator new'):
                    via_new[fn] = via_new.get(fn, 0) + int(ln[6:].split()[0])
    # operator new's malloc calls, shared out among its callers (one malloc per call).
    through_new = sum(v for k, v in by_caller.items() if k.startswith('operator new'))
    if through_new == sum(via_new.values()):
        by_caller = {k: v for k, v in by_caller.items() if not k.startswith('operator new')}
        for k, v in via_new.items():
            key = f'{k} (operator new)'
            by_caller[key] = by_caller.get(key, 0) + v
    return by_caller


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
             '| path | instructions per request | malloc calls per request |',
             '| --- | --- | --- |']
    details = []
    for proto in ('uwsgi', 'http'):
        ir1, out1 = _one_run(tmp, proto, n1)
        ir2, out2 = _one_run(tmp, proto, n2)
        per = (ir2 - ir1) / (n2 - n1)
        label = ('uwsgi protocol, connection per request' if proto == 'uwsgi'
                 else 'HTTP/1.1 keep-alive')
        allocs = (sum(_alloc_calls(out2).values()) - sum(_alloc_calls(out1).values())) / (n2 - n1)
        lines.append(f'| {label} | {per:,.0f} | {allocs:.2f} |')
        print(f'callgrind {proto}: {per:,.0f} instructions, {allocs:.2f} malloc calls per request',
              flush=True)
        f1, f2 = _per_function(out1), _per_function(out2)
        diff = sorted(((f2[k] - f1.get(k, 0)) / (n2 - n1), k) for k in f2)[::-1][:20]
        details += ['', f'## Own instructions per request by function ({label})', '',
                    '| instructions/request | function |', '| --- | --- |']
        details += [f'| {v:,.0f} | `{k}` |' for v, k in diff if v >= 50]
    with open(f'{outdir}/callgrind.md', 'w') as f:
        f.write('\n'.join(lines + details) + '\n')


def check(budgets, alloc_budgets=None, n1=100, n2=600):
    """Counts each path's instructions and malloc calls per request and compares them with
    `budgets` and `alloc_budgets` ({'uwsgi': n, 'http': n}); returns the lines describing the
    paths over budget."""
    alloc_budgets = alloc_budgets or {}
    tmp = tempfile.mkdtemp(prefix='kc.', dir='/tmp')
    over = []
    try:
        for proto in sorted(set(budgets) | set(alloc_budgets), key=['uwsgi', 'http'].index):
            ir1, out1 = _one_run(tmp, proto, n1)
            ir2, out2 = _one_run(tmp, proto, n2)
            per = (ir2 - ir1) / (n2 - n1)
            if proto in budgets:
                budget = budgets[proto]
                verdict = 'within' if per <= budget else 'OVER'
                print(f'{proto}: {per:,.0f} instructions per request, {verdict} the budget of '
                      f'{budget:,}', flush=True)
                if per > budget:
                    over.append(f'{proto}: {per:,.0f} instructions > {budget:,}')
            if proto in alloc_budgets:
                c1, c2 = _alloc_calls(out1), _alloc_calls(out2)
                allocs = (sum(c2.values()) - sum(c1.values())) / (n2 - n1)
                budget = alloc_budgets[proto]
                verdict = 'within' if allocs <= budget else 'OVER'
                print(f'{proto}: {allocs:.2f} malloc calls per request, {verdict} the budget of '
                      f'{budget}', flush=True)
                for caller in sorted(c2, key=lambda k: c1.get(k, 0) - c2[k]):
                    n = (c2[caller] - c1.get(caller, 0)) / (n2 - n1)
                    if n >= 0.05:
                        print(f'  {n:.2f} from {caller[:150]}', flush=True)
                if allocs > budget:
                    over.append(f'{proto}: {allocs:.2f} malloc calls > {budget}')
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
    ap.add_argument('--allocs', action='append', default=[], metavar='PROTO=N',
                    help='uwsgi=N or http=N: the most malloc calls per request allowed')
    args = ap.parse_args()

    def parse(items, flag):
        out = {}
        for item in items:
            proto, _, n = item.partition('=')
            if proto not in ('uwsgi', 'http') or not n.isdigit():
                ap.error(f'{flag}: expected uwsgi=N or http=N, got "{item}"')
            out[proto] = int(n)
        return out

    budgets = parse(args.check, '--check')
    alloc_budgets = parse(args.allocs, '--allocs')
    if not budgets and not alloc_budgets:
        ap.error('give at least one --check or --allocs')
    if shutil.which('valgrind') is None:
        sys.exit('valgrind is not installed (Debian package valgrind)')
    over = check(budgets, alloc_budgets)
    if over:
        sys.exit('over budget: ' + '; '.join(over) +
                 '. bench/macro/run.py --callgrind lists the functions per request '
                 '(docs/performance/callgrind.md holds the last committed list).')


if __name__ == '__main__':
    main()
