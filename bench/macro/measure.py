# Load generation and measurement for the macro benchmark: wrk runs (req/s, latency
# percentiles, errors), the keep-alive starvation check, and the reload-under-load client that
# counts failed and slow requests.
import re
import socket
import subprocess
import threading
import time

import procs

_UNITS = {'us': 1e-3, 'ms': 1.0, 's': 1e3, 'm': 60e3}


def _ms(text):
    m = re.fullmatch(r'([\d.]+)(us|ms|s|m)', text)
    if not m:
        raise ValueError(f'wrk latency "{text}": expected a number with us/ms/s/m')
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url, duration, script=None, headers=(), connections=64, threads=2):
    argv = ['wrk', f'-t{threads}', f'-c{connections}', f'-d{duration}s', '--latency']
    for h in headers:
        argv += ['-H', h]
    if script:
        argv += ['-s', script]
    argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    res = {'rps': 0.0, 'p50_ms': None, 'p99_ms': None, 'requests': 0, 'errors': 0,
           'non2xx': 0, 'raw': out}
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    if m:
        res['rps'] = float(m.group(1))
    m = re.search(r'(\d+) requests in', out)
    if m:
        res['requests'] = int(m.group(1))
    for pct, key in (('50', 'p50_ms'), ('99', 'p99_ms')):
        m = re.search(rf'^\s+{pct}%\s+(\S+)', out, re.M)
        if m:
            res[key] = _ms(m.group(1))
    m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    if m:
        # read errors also count the peer closing after a response that wrk took as keep-alive
        res['errors'] = int(m.group(1)) + int(m.group(3)) + int(m.group(4))
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if m:
        res['non2xx'] = int(m.group(1))
    return res


def post_script(path, size, url_path='/post'):
    with open(path, 'w') as f:
        f.write('wrk.method = "POST"\n'
                f'wrk.path = "{url_path}"\n'
                f'wrk.body = string.rep("x", {size})\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    return path


def keepalive_served(host, port, conns=64, timeout=5.0):
    """Opens conns keep-alive connections and asks for two requests on each, all at once.
    Returns how many connections got both answers within timeout (starvation shows as < conns)."""
    req = b'GET / HTTP/1.1\r\nHost: bench\r\n\r\n'
    socks = []
    try:
        for _ in range(conns):
            s = socket.create_connection((host, port), timeout=timeout)
            socks.append(s)
        served = 0
        deadline = time.monotonic() + timeout
        done = [0] * conns
        for round_ in range(2):
            for s in socks:
                try:
                    s.sendall(req)
                except OSError:
                    pass
            for i, s in enumerate(socks):
                if done[i] < round_:
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data = s.recv(4096)
                    if data.startswith(b'HTTP/1.1 200'):
                        done[i] += 1
                except OSError:
                    pass
        served = sum(1 for d in done if d == 2)
        return served
    finally:
        for s in socks:
            s.close()


class ReloadLoad:
    """Client threads doing one GET per new connection until stopped; records latencies and
    failures (connection errors, timeouts, non-200 answers)."""

    def __init__(self, host, port, threads=8, timeout=10.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.lat_ms = []
        self.failed = 0
        self.fail_kinds = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _one(self):
        t0 = time.monotonic()
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as s:
                data = procs.exchange(
                    s, b'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n')
            ok = data.startswith(b'HTTP/1.1 200') or data.startswith(b'HTTP/1.0 200')
            kind = None if ok else f'answer {data[:12]!r}'
        except OSError as e:
            kind = type(e).__name__
        dt = (time.monotonic() - t0) * 1e3
        with self._lock:
            self.lat_ms.append(dt)
            if kind:
                self.failed += 1
                self.fail_kinds[kind] = self.fail_kinds.get(kind, 0) + 1

    def _run(self):
        while not self._stop.is_set():
            self._one()

    def start(self):
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)


class Scraper:
    """A Prometheus stand-in: GET /metrics from a stats-http address every `period` seconds
    until stopped (the "all features" cells). Counts the scrapes answered 200 and the others."""

    def __init__(self, host, port, period=1.0, path='/metrics'):
        self.host, self.port, self.period, self.path = host, port, period, path
        self.ok = 0
        self.failed = 0
        self.last_error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        req = f'GET {self.path} HTTP/1.0\r\nHost: bench\r\n\r\n'.encode()
        while not self._stop.is_set():
            try:
                with socket.create_connection((self.host, self.port), timeout=5) as s:
                    data = procs.exchange(s, req)
                if data.startswith(b'HTTP/1.') and data[9:12] == b'200' and b'# TYPE' in data:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.last_error = f'answer {data[:40]!r}'
            except OSError as e:
                self.failed += 1
                self.last_error = f'{type(e).__name__}: {e}'
            self._stop.wait(self.period)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(10)
