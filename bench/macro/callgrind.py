# Instructions per request on the hello-world path, counted by callgrind, so a regression shows
# without a quiet machine. One kiln process without a master (it serves as its only worker) runs
# under valgrind twice, answering N1 and then N2 requests; (Ir(N2) - Ir(N1)) / (N2 - N1) leaves
# out start-up and shutdown. Run through `run.py --callgrind` for the report; run this file with
# `--check proto=budget` (the CTest perf_instructions_per_request) to fail when a path exceeds
# its budget. `--features` (also part of `run.py --callgrind`) compares a master with 2 workers
# against the same hello world with every feature of issue 20's batch on (an emperor's vassal,
# stats-http scraped each second, cheaper, an ASGI mount, the master FIFO, log-maxsize): the
# workers' instructions per request, the master's and the emperor's per second, and the
# functions whose count per request differs. Paths: uwsgi and http (Python hello world), lua
# (the Lua WSAPI hello world over HTTP keep-alive, the CTest perf_lua_instructions_per_request).
# The same runs count the calls that reach the C allocator (malloc and its kin, operator new
# included, since it calls malloc; CPython's small-object allocator does not reach it), per
# request: `--allocs proto=N` fails above N.
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

sys.dont_write_bytecode = True  # keep the source tree clean (the CTest runs this file)
import measure  # noqa: E402
import procs  # noqa: E402
import servers as sv  # noqa: E402


def _uwsgi_packet(path='/'):
    env = {'REQUEST_METHOD': 'GET', 'REQUEST_URI': path, 'PATH_INFO': path, 'QUERY_STRING': '',
           'SERVER_PROTOCOL': 'HTTP/1.1', 'SERVER_NAME': 'bench', 'SERVER_PORT': '80',
           'REMOTE_ADDR': '127.0.0.1', 'HTTP_HOST': 'bench'}
    body = b''.join(struct.pack('<H', len(k)) + k.encode() + struct.pack('<H', len(v)) +
                    v.encode() for k, v in env.items())
    return struct.pack('<BHB', 0, len(body), 0) + body


def _uwsgi_requests(sock_path, n, timeout=30):
    pkt = _uwsgi_packet()
    for _ in range(n):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
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


def _http_requests(sock_path, n, timeout=30, body=b'Hello, World!\n'):
    req = b'GET / HTTP/1.1\r\nHost: bench\r\n\r\n'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        for _ in range(n):
            s.sendall(req)
            data = b''
            while body not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError('connection closed by kiln')
                data += chunk


# What the hello world of each HTTP path answers.
_BODIES = {'http': b'Hello, World!\n', 'lua': b'Hello, world!\n', 'asgi': b'Hello, World!'}
_LABELS = {'uwsgi': 'uwsgi protocol, connection per request', 'http': 'HTTP/1.1 keep-alive',
           'lua': 'Lua WSAPI, HTTP/1.1 keep-alive',
           'asgi': 'ASGI hello world, HTTP/1.1 keep-alive'}


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
    app = {'lua': ['--plugins', 'lua', '--lua', sv.HELLO_LUA],
           'asgi': ['--plugins', 'python,logfile', '--pythonpath', sv.BENCH_APPS, '--asgi', 'asgi_hello:hello']}.get(
               proto, ['--wsgi-file', sv.HELLO_PY])
    argv = ['valgrind', '--tool=callgrind', f'--callgrind-out-file={out}', sv.KILN, opt, sock,
            *app, '--req-logger', f'file:{tmp}/cg.req.log', '--logto', f'{tmp}/cg.log']
    with open(f'{tmp}/cg.valgrind.log', 'ab') as log:
        # A fixed hash seed keeps Python's dict work, and so the count, the same from run to run.
        env = dict(os.environ, PYTHONHASHSEED='0')
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env=env)
        try:
            _wait_socket(sock, p)
            if proto == 'uwsgi':
                _uwsgi_requests(sock, n)
            else:
                _http_requests(sock, n, body=_BODIES[proto])
        finally:
            _stop(p)
    return _totals(out), out


def _stop(p):
    """Stops kiln under valgrind (SIGTERM: callgrind writes its output as kiln exits)."""
    if p.poll() is None:
        p.terminate()
    try:
        p.wait(120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def _totals(out):
    with open(out) as f:
        text = f.read()
    m = re.search(r'^(?:summary|totals):\s+(\d+)', text, re.M)
    if not m:
        raise RuntimeError(f'no instruction total in {out}')
    return int(m.group(1))


def _tree_run(tmp, proto, n, features, omit=()):
    """One run of a master with 2 workers (features: the same as the only vassal of kiln's
    emperor, with every feature on, /metrics scraped once a second) under callgrind, every
    process followed (fork and exec). Returns ({'emperor'|'master'|'worker'|'other': Ir},
    [worker output files], seconds the n requests took)."""
    tag = f'{"features" if features else "master"}{"-no-" if omit else ""}' \
          f'{"-".join(omit)}.{proto}.{n}'
    sock = f'{tmp}/cgt-{proto}.sock'
    if os.path.exists(sock):
        os.unlink(sock)
    argv = ['valgrind', '--tool=callgrind', '--trace-children=yes',
            f'--callgrind-out-file={tmp}/callgrind.{tag}.%p.out', sv.KILN]
    stats = None
    if features:
        stats = ('127.0.0.1', procs.free_port())
        vassals = f'{tmp}/vassals.{tag}'
        os.makedirs(vassals)
        with open(f'{vassals}/hello.ini', 'w') as f:
            f.write(sv.features_ini(tmp, f'cgt.{tag}', proto, sock, '%s:%d' % stats,
                                    omit=omit))
        argv += ['--emperor', vassals]
    else:
        argv += ['--master', '--processes', str(sv.WORKERS),
                 '--socket' if proto == 'uwsgi' else '--http-socket', sock,
                 '--wsgi-file', sv.HELLO_PY, '--req-logger', f'file:{tmp}/cgt.{tag}.req.log',
                 '--logto', f'{tmp}/cgt.{tag}.log']
    roles = {}
    with open(f'{tmp}/cgt.valgrind.log', 'ab') as log:
        env = dict(os.environ, PYTHONHASHSEED='0')
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env=env)
        scraper = None
        try:
            _wait_socket(sock, p)
            # the workers start slowly under valgrind (the ASGI event loop, uvloop's import)
            (_uwsgi_requests if proto == 'uwsgi' else _http_requests)(sock, 5, timeout=180)
            if stats:
                scraper = measure.Scraper(*stats)
                scraper.start()
            started = time.monotonic()
            (_uwsgi_requests if proto == 'uwsgi' else _http_requests)(sock, n)
            elapsed = time.monotonic() - started
            if scraper:
                scraper.stop()
                if scraper.ok == 0 and 'stats' not in omit:
                    raise RuntimeError(f'no /metrics scrape answered: {scraper.last_error}')
            ppid = procs._ppid_map()
            top = p.pid
            master = [c for c, pp in ppid.items() if pp == top][0] if features else top
            roles = {pid: 'worker' for pid, pp in ppid.items() if pp == master}
            roles[master] = 'master'
            roles[top] = 'emperor' if features else 'master'
        finally:
            if scraper:
                scraper.stop()
            _stop(p)
    by_role, workers = {}, []
    for name in os.listdir(tmp):
        m = re.fullmatch(rf'callgrind\.{re.escape(tag)}\.(\d+)\.out', name)
        if not m:
            continue
        role = roles.get(int(m.group(1)), 'other')
        path = os.path.join(tmp, name)
        by_role[role] = by_role.get(role, 0) + _totals(path)
        if role == 'worker':
            workers.append(path)
    if not workers:
        raise RuntimeError(f'no worker output of {tag} in {tmp}')
    return by_role, workers, elapsed


def _functions(files):
    total = {}
    for path in files:
        for k, v in _per_function(path).items():
            k = re.sub(r' \[[^]]*\]$', '', k)  # one line per function, with or without [object]
            total[k] = total.get(k, 0) + v
    return total


def features(tmp, protos=('uwsgi', 'http'), n1=200, n2=1200, omit=()):
    """Every feature on (but those in `omit`, servers.FEATURES) against off (see _tree_run),
    per protocol. Returns the markdown lines and a dict of the figures."""
    lines = ['', '## Every new feature on (issue 20)' +
             (f', without {", ".join(omit)}' if omit else ''), '',
             f'A master with {sv.WORKERS} workers, hello world, request log to a file ("plain"), '
             'against the same as the only vassal of `kiln --emperor` with stats + stats-http '
             '(/metrics scraped once a second during the requests), cheaper mode (busyness), an '
             'ASGI app mounted at /asgi with manage-script-name, the master FIFO and '
             f'log-maxsize ("features"; servers.features_ini)' +
             (f', but without {", ".join(omit)}' if omit else '') +
             f'. {n1} and then {n2} requests, one '
             'client; every process under callgrind. Workers: (Ir after '
             f'{n2} - Ir after {n1}) / {n2 - n1}, summed over the workers. Master and emperor: '
             'the same difference divided by the difference of the two runs\' request times '
             'under valgrind (their work is timed, not per request: scrapes, cheaper samples, '
             'scans); rough, since their work during the start-up, whose length varies, is in '
             'the difference too.', '',
             '| path | workers, plain | workers, features | delta per request | master, plain '
             '(per s) | master, features (per s) | emperor (per s) |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    details, figures = [], {}
    for proto in protos:
        res = {}
        for feat in (False, True):
            r1, w1, t1 = _tree_run(tmp, proto, n1, feat, omit if feat else ())
            r2, w2, t2 = _tree_run(tmp, proto, n2, feat, omit if feat else ())
            per_req = (r2.get('worker', 0) - r1.get('worker', 0)) / (n2 - n1)
            per_s = {role: (r2.get(role, 0) - r1.get(role, 0)) / max(t2 - t1, 1e-3)
                     for role in ('master', 'emperor')}
            f1, f2 = _functions(w1), _functions(w2)
            funcs = {k: (f2.get(k, 0) - f1.get(k, 0)) / (n2 - n1) for k in set(f1) | set(f2)}
            res[feat] = (per_req, per_s, funcs)
            print(f'callgrind {proto} {"features" if feat else "plain"}: {per_req:,.0f} '
                  f'instructions per request in the workers; master {per_s["master"]:,.0f}/s, '
                  f'emperor {per_s["emperor"]:,.0f}/s', flush=True)
        (p_req, p_s, p_f), (x_req, x_s, x_f) = res[False], res[True]
        label = ('uwsgi protocol, connection per request' if proto == 'uwsgi'
                 else 'HTTP/1.1 keep-alive')
        lines.append(f'| {label} | {p_req:,.0f} | {x_req:,.0f} | {x_req - p_req:+,.0f} '
                     f'({(x_req - p_req) / p_req:+.1%}) | {p_s["master"]:,.0f} | '
                     f'{x_s["master"]:,.0f} | {x_s["emperor"]:,.0f} |')
        figures[proto] = {'plain': p_req, 'features': x_req}
        delta = sorted(((x_f.get(k, 0) - p_f.get(k, 0)), k) for k in set(p_f) | set(x_f))
        big = [(v, k) for v, k in delta[::-1] if abs(v) >= 10]
        details += ['', f'### Workers\' functions whose own instructions per request differ, '
                    f'features - plain ({label}; at least 10)', '',
                    '| delta per request | function |', '| --- | --- |']
        details += [f'| {v:+,.0f} | `{k}` |' for v, k in big[:25]] or ['| - | none |']
    return lines + details, figures


# An allocation in one request of twenty (a buffer that grows once, a rehash) is not the
# path's: a budget of N allows up to N + this many calls per request.
_ALLOC_SLACK = 0.05

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
    for proto in ('uwsgi', 'http', 'lua'):
        ir1, out1 = _one_run(tmp, proto, n1)
        ir2, out2 = _one_run(tmp, proto, n2)
        per = (ir2 - ir1) / (n2 - n1)
        label = _LABELS[proto]
        allocs = (sum(_alloc_calls(out2).values()) - sum(_alloc_calls(out1).values())) / (n2 - n1)
        lines.append(f'| {label} | {per:,.0f} | {allocs:.2f} |')
        print(f'callgrind {proto}: {per:,.0f} instructions, {allocs:.2f} malloc calls per request',
              flush=True)
        f1, f2 = _per_function(out1), _per_function(out2)
        diff = sorted(((f2[k] - f1.get(k, 0)) / (n2 - n1), k) for k in f2)[::-1][:20]
        details += ['', f'## Own instructions per request by function ({label})', '',
                    '| instructions/request | function |', '| --- | --- |']
        details += [f'| {v:,.0f} | `{k}` |' for v, k in diff if v >= 50]
    feat_lines, _ = features(tmp)
    with open(f'{outdir}/callgrind.md', 'w') as f:
        f.write('\n'.join(lines + details + feat_lines) + '\n')


def check(budgets, alloc_budgets=None, n1=100, n2=600):
    """Counts each path's instructions and malloc calls per request and compares them with
    `budgets` and `alloc_budgets` ({'uwsgi': n, 'http': n, 'lua': n}); returns the lines
    describing the paths over budget."""
    alloc_budgets = alloc_budgets or {}
    tmp = tempfile.mkdtemp(prefix='kc.', dir='/tmp')
    over = []
    try:
        for proto in sorted(set(budgets) | set(alloc_budgets), key=list(_LABELS).index):
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
                verdict = 'within' if allocs <= budget + _ALLOC_SLACK else 'OVER'
                print(f'{proto}: {allocs:.2f} malloc calls per request, {verdict} the budget of '
                      f'{budget}', flush=True)
                for caller in sorted(c2, key=lambda k: c1.get(k, 0) - c2[k]):
                    n = (c2[caller] - c1.get(caller, 0)) / (n2 - n1)
                    if n >= 0.05:
                        print(f'  {n:.2f} from {caller[:150]}', flush=True)
                if allocs > budget + _ALLOC_SLACK:
                    over.append(f'{proto}: {allocs:.2f} malloc calls > {budget}')
    except Exception:
        print(f'valgrind output kept in {tmp}', file=sys.stderr)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return over


def check_features(budgets, n1=100, n2=600):
    """Counts what every feature on adds to the workers' instructions per request (features())
    and compares it with `budgets` ({'uwsgi': n, 'http': n}); returns the lines over budget."""
    tmp = tempfile.mkdtemp(prefix='kc.', dir='/tmp')
    try:
        _, figures = features(tmp, tuple(budgets), n1, n2)
    except Exception:
        print(f'valgrind output kept in {tmp}', file=sys.stderr)
        raise
    over = []
    for proto, budget in budgets.items():
        added = figures[proto]['features'] - figures[proto]['plain']
        verdict = 'within' if added <= budget else 'OVER'
        print(f'{proto}: every feature on adds {added:+,.0f} instructions per request, '
              f'{verdict} the budget of {budget:,}', flush=True)
        if added > budget:
            over.append(f'{proto} with every feature on: {added:+,.0f} > {budget:,}')
    shutil.rmtree(tmp, ignore_errors=True)
    return over


def main():
    ap = argparse.ArgumentParser(description='Check the hello-world path against its '
                                 'instructions-per-request budget (callgrind).')
    ap.add_argument('--check', action='append', default=[], metavar='PROTO=BUDGET',
                    help='uwsgi=N, http=N, lua=N or asgi=N: the most instructions per request allowed')
    ap.add_argument('--allocs', action='append', default=[], metavar='PROTO=N',
                    help='uwsgi=N, http=N, lua=N or asgi=N: the most malloc calls per request allowed')
    ap.add_argument('--features', action='store_true',
                    help='print the instructions per request with every feature of issue 20 '
                    'on against plain (both protocols), no budget')
    ap.add_argument('--proto', action='append', choices=('uwsgi', 'http'),
                    help='with --features: only this protocol (repeatable)')
    ap.add_argument('--omit', action='append', choices=sv.FEATURES, default=[],
                    help='with --features: leave this feature out (repeatable), to tell '
                    'which one costs')
    ap.add_argument('--requests', type=int, nargs=2, default=(200, 1200), metavar=('N1', 'N2'),
                    help='with --features: the two request counts (default 200 1200)')
    ap.add_argument('--check-features', action='append', default=[], metavar='PROTO=DELTA',
                    help='uwsgi=N or http=N: the most instructions per request that every '
                    'feature of issue 20 on may add to the workers (as --features, with 100 '
                    'and 600 requests)')
    args = ap.parse_args()
    if shutil.which('valgrind') is None:
        sys.exit('valgrind is not installed (Debian package valgrind)')
    if args.features:
        tmp = tempfile.mkdtemp(prefix='kc.', dir='/tmp')
        lines, _ = features(tmp, tuple(args.proto or ('uwsgi', 'http')), *args.requests,
                            omit=tuple(args.omit))
        print('\n'.join(lines))
        print(f'(valgrind output in {tmp})')
        return
    budgets = _budgets(ap, '--check', args.check, tuple(_LABELS))
    alloc_budgets = _budgets(ap, '--allocs', args.allocs, tuple(_LABELS))
    feature_budgets = _budgets(ap, '--check-features', args.check_features)
    if not budgets and not alloc_budgets and not feature_budgets:
        ap.error('give at least one --check, --allocs or --check-features')
    over = check(budgets, alloc_budgets) if budgets or alloc_budgets else []
    if feature_budgets:
        over += check_features(feature_budgets)
    if over:
        sys.exit('over budget: ' + '; '.join(over) +
                 '. bench/macro/run.py --callgrind lists the functions per request '
                 '(docs/performance/callgrind.md holds the last committed list).')


def _budgets(ap, flag, items, protos=('uwsgi', 'http')):
    budgets = {}
    for item in items:
        proto, _, n = item.partition('=')
        if proto not in protos or not n.isdigit():
            ap.error(f'{flag}: expected {" or ".join(p + "=N" for p in protos)}, got "{item}"')
        budgets[proto] = int(n)
    return budgets

if __name__ == '__main__':
    main()
