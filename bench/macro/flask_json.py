# The Flask JSON endpoint behind nginx `uwsgi_pass` against its limit (issue 20): kiln's server
# CPU per request compared with (the app's own in-process cost, hot) + (the floor backend's CPU
# per request), target at most 1.4x. One process tree at a time, kiln and the floor alternating
# over the rounds; the in-process cost calls the Flask app's WSGI callable in a loop with an
# environ shaped like nginx's uwsgi_params. `--perf DIR` also samples kiln's workers with
# `perf record` (software cpu-clock events: this works in VMs without hardware counters) while
# wrk runs, and writes the report to DIR.
#
# `--callgrind` instead counts instructions (deterministic on a busy machine): per request of kiln
# serving the endpoint (one process, no master, uwsgi protocol) and per call of the app alone.
#
#   /usr/bin/python3 bench/macro/flask_json.py [--rounds 3] [--duration 5] [--perf /tmp/fj]
#   /usr/bin/python3 bench/macro/flask_json.py --callgrind
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import callgrind  # noqa: E402
import measure  # noqa: E402
import procs  # noqa: E402
import servers as sv  # noqa: E402

PATH = '/api/v1/health'
H = '127.0.0.1'

# The app alone: what one request costs the Python code with nothing around it, hot (CPU time,
# not wall time: the machine may be shared). The environ
# is what nginx sends with Debian's uwsgi_params for wrk's GET; copied per call as a server
# builds a fresh one.
_IN_PROCESS = r'''
import io, sys, time
sys.path.insert(0, sys.argv[1])
from app import app
env = {'QUERY_STRING': '', 'REQUEST_METHOD': 'GET', 'CONTENT_TYPE': '', 'CONTENT_LENGTH': '',
       'REQUEST_URI': sys.argv[2], 'PATH_INFO': sys.argv[2], 'DOCUMENT_ROOT': '/usr/share/nginx/html',
       'SERVER_PROTOCOL': 'HTTP/1.1', 'REQUEST_SCHEME': 'http', 'REMOTE_ADDR': '127.0.0.1',
       'REMOTE_PORT': '51234', 'SERVER_PORT': '8080', 'SERVER_NAME': 'localhost',
       'HTTP_HOST': '127.0.0.1:8080', 'SCRIPT_NAME': '', 'wsgi.version': (1, 0),
       'wsgi.url_scheme': 'http', 'wsgi.multithread': False, 'wsgi.multiprocess': True,
       'wsgi.run_once': False, 'wsgi.errors': sys.stderr, 'wsgi.input_terminated': True}
def sr(status, headers, exc_info=None):
    return None
def once():
    e = dict(env)
    e['wsgi.input'] = io.BytesIO(b'')
    it = app(e, sr)
    try:
        b''.join(it)
    finally:
        if hasattr(it, 'close'):
            it.close()
if len(sys.argv) > 3:  # a fixed number of calls, for callgrind
    for _ in range(int(sys.argv[3])):
        once()
    sys.exit(0)
for _ in range(2000):
    once()
best = None
for _ in range(5):
    n = 5000
    t = time.process_time()
    for _ in range(n):
        once()
    us = (time.process_time() - t) / n * 1e6
    best = us if best is None else min(best, us)
print(best)
'''


def shared_python(tmp):
    """A python launcher linked against libpython3.11.so, the library kiln (and uWSGI) embed:
    Debian's /usr/bin/python3 links the interpreter statically and runs the same code faster."""
    src, exe = f'{tmp}/pyshared.c', f'{tmp}/pyshared'
    with open(src, 'w') as f:
        f.write('#include <Python.h>\nint main(int argc, char** argv) '
                '{ return Py_BytesMain(argc, argv); }\n')
    flags = subprocess.run(['/usr/bin/python3-config', '--includes', '--embed', '--ldflags'],
                           capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(['cc', '-O2', src, '-o', exe] + flags, check=True)
    return exe


def in_process_us(python='/usr/bin/python3'):
    out = subprocess.run([python, '-B', '-c', _IN_PROCESS, sv.FLASK_DIR, PATH],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit(f'in-process run failed: {out.stderr.strip()[-400:]}')
    return float(out.stdout.split()[-1])


def _callgrind_total(out):
    with open(out) as f:
        m = re.search(r'^(?:summary|totals):\s+(\d+)', f.read(), re.M)
    return int(m.group(1))


def _callgrind_kiln(tmp, n):
    sock = f'{tmp}/cgf.sock'
    out = f'{tmp}/callgrind.flask.{n}.out'
    argv = ['valgrind', '--tool=callgrind', f'--callgrind-out-file={out}', sv.KILN, '--socket',
            sock, '--chdir', sv.FLASK_DIR, '--module', 'app:app',
            '--req-logger', f'file:{tmp}/cgf.req.log', '--logto', f'{tmp}/cgf.log']
    env = dict(os.environ, PYTHONHASHSEED='0')
    with open(f'{tmp}/cgf.valgrind.log', 'ab') as log:
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env=env)
        try:
            callgrind._wait_socket(sock, p)
            pkt = callgrind._uwsgi_packet(PATH)
            for _ in range(n):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                    c.settimeout(300)  # the first waits for the app import under valgrind
                    c.connect(sock)
                    c.sendall(pkt)
                    data = b''
                    while chunk := c.recv(4096):
                        data += chunk
                    if b' 200 ' not in data.split(b'\r\n', 1)[0]:
                        raise RuntimeError(f'unexpected answer {data[:60]!r}')
        finally:
            p.terminate()
            p.wait(120)
    return _callgrind_total(out)


def _callgrind_app(tmp, n, python):
    out = f'{tmp}/callgrind.app.{os.path.basename(python)}.{n}.out'
    subprocess.run(['valgrind', '--tool=callgrind', f'--callgrind-out-file={out}',
                    python, '-B', '-c', _IN_PROCESS, sv.FLASK_DIR, PATH, str(n)],
                   env=dict(os.environ, PYTHONHASHSEED='0'), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _callgrind_total(out)


def callgrind_counts(tmp, n1=100, n2=600):
    kiln = (_callgrind_kiln(tmp, n2) - _callgrind_kiln(tmp, n1)) / (n2 - n1)
    print(f'callgrind: kiln serving {PATH}: {kiln:,.0f} instructions per request', flush=True)
    for python in ('/usr/bin/python3', shared_python(tmp)):
        app = (_callgrind_app(tmp, n2, python) - _callgrind_app(tmp, n1, python)) / (n2 - n1)
        print(f'callgrind: the app alone under {python}: {app:,.0f} per call; kiln beyond it: '
              f'{kiln - app:,.0f}', flush=True)


def _perf_record(pids, seconds, out):
    return subprocess.Popen(['perf', 'record', '-e', 'cpu-clock', '-F', '2000', '-g', '-o', out,
                             '-p', ','.join(str(p) for p in pids), '--', 'sleep', str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one_cell(tmp, which, duration, perf_out=None):
    sock = f'{tmp}/{which}.sock'
    if which == 'kiln':
        back = sv.kiln(tmp, 'fk', 'flask', 'uwsgi', sock)
    else:
        back = sv.floor(tmp, 'ff', 'uwsgi', sock)
    port = procs.free_port()
    front = sv.nginx(tmp, f'{which}-nginx', port, 'uwsgi', sock)
    try:
        procs.wait_ready(front, H, port, PATH)
        url = f'http://{H}:{port}{PATH}'
        measure.wrk(url, 1)
        pids = back.pids()
        rec = None
        if perf_out and which == 'kiln':
            workers = [p for p in pids if p != back.pid] or pids
            rec = _perf_record(workers, duration, perf_out)
        c0 = procs.cpu_ticks(pids)
        res = measure.wrk(url, duration)
        c1 = procs.cpu_ticks(back.pids())
        if rec:
            rec.wait(timeout=duration + 60)
        n = max(res['requests'], 1)
        return procs.ticks_to_us(c1 - c0) / n, res['rps'], res['non2xx'] + res['errors']
    finally:
        front.stop()
        back.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=int, default=5)
    ap.add_argument('--perf', metavar='DIR', help='perf record kiln\'s workers, report in DIR')
    ap.add_argument('--callgrind', action='store_true', help='count instructions instead')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='kfj.', dir='/tmp')
    if args.callgrind:
        callgrind_counts(tmp)
        return
    os.chmod(tmp, 0o755)  # nginx workers run as nobody
    app_us = in_process_us()
    app_shared_us = in_process_us(shared_python(tmp))
    cpu = {'kiln': [], 'floor': []}
    try:
        for r in range(args.rounds):
            order = ('kiln', 'floor') if r % 2 == 0 else ('floor', 'kiln')
            for which in order:
                perf_out = None
                if args.perf and r == 0:
                    os.makedirs(args.perf, exist_ok=True)
                    perf_out = os.path.join(args.perf, 'kiln-flask.perf.data')
                us, rps, bad = one_cell(tmp, which, args.duration, perf_out)
                cpu[which].append(us)
                print(f'round {r + 1} {which}: {us:.1f} us CPU/request, {rps:.0f} req/s'
                      + (f', {bad} errors/non-2xx' if bad else ''), flush=True)
    finally:
        procs.stop_all()
    k, f = statistics.median(cpu['kiln']), statistics.median(cpu['floor'])
    limit = app_us + f
    print(f'Flask {PATH} in-process (hot): {app_us:.1f} us under /usr/bin/python3, '
          f'{app_shared_us:.1f} us on libpython3.11.so')
    print(f'floor_uwsgi: {f:.1f} us CPU/request; kiln: {k:.1f} us CPU/request '
          f'(spread {min(cpu["kiln"]):.1f}-{max(cpu["kiln"]):.1f})')
    print(f'kiln / (app + floor) = {k / limit:.2f}x (target <= 1.4x); '
          f'kiln beyond app + floor: {k - limit:.1f} us; with the app on libpython3.11.so: '
          f'{k / (app_shared_us + f):.2f}x, {k - app_shared_us - f:.1f} us')
    if args.perf:
        rep = os.path.join(args.perf, 'kiln-flask.perf.txt')
        with open(rep, 'w') as out:
            subprocess.run(['perf', 'report', '--no-children', '--sort', 'dso,sym', '--stdio',
                            '-i', os.path.join(args.perf, 'kiln-flask.perf.data')],
                           stdout=out, stderr=subprocess.DEVNULL)
        print(f'perf report: {rep}')


if __name__ == '__main__':
    main()
