# Process control for the macro benchmark: starts servers, finds their workers, reads their CPU
# time and memory from /proc, waits until they answer, and stops exactly the processes it started
# (by pid), also on Ctrl-C and errors.
import os
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf('SC_CLK_TCK')
_started = []  # every Proc still running, so stop_all() can end them


def _ppid_map():
    out = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        out[int(name)] = int(fields[1])
    return out


def descendants(pid):
    """pid and every process below it."""
    ppids = _ppid_map()
    found = [pid]
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, pp in ppids.items():
            if pp == parent and child not in found:
                found.append(child)
                frontier.append(child)
    return found


def cpu_ticks(pids):
    """utime+stime (clock ticks) summed over pids; vanished pids count as 0."""
    total = 0
    for pid in pids:
        try:
            with open(f'/proc/{pid}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def ticks_to_us(ticks):
    return ticks * 1e6 / CLK_TCK


def memory_kib(pid):
    """(VmRSS, Pss) in KiB of one process, (0, 0) when gone."""
    rss = pss = 0
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    rss = int(line.split()[1])
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Proc:
    """One started server; stop() ends it and whatever it forked, by pid."""

    def __init__(self, name, argv, cwd, log_path, env=None, stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = argv
        self.stop_signal = stop_signal
        self.log_path = log_path
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.log = open(log_path, 'ab')
        self.started_at = time.monotonic()
        self.popen = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=self.log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, close_fds=True)
        self.pid = self.popen.pid
        _started.append(self)

    def pids(self):
        return descendants(self.pid)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=8.0):
        if self not in _started:
            return
        tree = self.pids() if self.alive() else []
        if self.alive():
            try:
                os.kill(self.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        deadline = time.monotonic() + 3
        for pid in tree[1:]:
            while time.monotonic() < deadline and os.path.exists(f'/proc/{pid}'):
                time.sleep(0.02)
            try:
                if _ppid_map().get(pid) is not None:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        _started.remove(self)


def stop_all():
    for proc in reversed(list(_started)):
        try:
            proc.stop(timeout=3.0)
        except Exception as e:  # keep stopping the others
            print(f'warning: stopping {proc.name} (pid {proc.pid}): {e}')


def exchange(sock, request):
    """Sends `request` on a connected socket and returns everything the peer sends until it
    closes (one request per connection, Connection: close)."""
    sock.sendall(request)
    data = b''
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


def http_get_ok(host, port, path='/', timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(f'GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n'.encode())
            data = s.recv(64)
            return data.startswith(b'HTTP/1.') and data[9:12] == b'200'
    except OSError:
        return False


def wait_ready(proc, host, port, path='/', timeout=20.0):
    """Polls until a GET answers 200; returns seconds since the process started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_get_ok(host, port, path, timeout=0.5):
            return time.monotonic() - proc.started_at
        if not proc.alive():
            raise RuntimeError(f'{proc.name} exited with code {proc.popen.returncode} before '
                               f'answering; see {proc.log_path}')
        time.sleep(0.005)
    raise RuntimeError(f'{proc.name} did not answer GET {path} on {host}:{port} within '
                       f'{timeout:.0f}s; see {proc.log_path}')
