#!/usr/bin/python3
# The several-hosts shape: three kiln masters (2 workers each, bench_app.py) on 127.0.0.2,
# .3 and .4, Debian's nginx on 127.0.0.1 in front with conf/nginx/kiln-upstream.conf (both its
# servers: uwsgi_pass and keep-alive proxy_pass). Client threads send GET and POST requests
# through both while one host is stopped gracefully and started again, another's master is
# killed and started again, and all three are reloaded one every 2 s; prints req/s and failed
# requests for each event (the table in docs/performance.md, "Several hosts behind nginx").
# Usage (as root: nginx's workers run as nobody):
#   /usr/bin/python3 bench/macro/multi_host.py [--threads 8] [--steady 5]
import argparse
import os
import signal
import socket
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
import servers as sv  # noqa: E402

HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
UPSTREAM_CONF = os.path.join(sv.SRC, 'conf', 'nginx', 'kiln-upstream.conf')


def start_host(tmp, i, uwsgi_port, http_port, n):
    ip = HOSTS[i]
    return sv.kiln(tmp, f'host{i}-{n}', 'bench', 'uwsgi', f'{ip}:{uwsgi_port}',
                   extra=['--http-socket', f'{ip}:{http_port}'])


def nginx_conf(tmp, uwsgi_port, http_port, front_u, front_h):
    with open(UPSTREAM_CONF) as f:
        shipped = f.read()
    subs = {'listen 80;': f'listen 127.0.0.1:{front_u};',
            'listen 8081;': f'listen 127.0.0.1:{front_h};',
            'include uwsgi_params;': 'include /etc/nginx/uwsgi_params;'}
    for i, ip in enumerate(HOSTS):
        subs[f'10.0.0.1{i + 1}:3031'] = f'{ip}:{uwsgi_port}'
        subs[f'10.0.0.1{i + 1}:8080'] = f'{ip}:{http_port}'
    for a, b in subs.items():
        shipped = shipped.replace(a, b)
    os.makedirs(f'{tmp}/ngx', mode=0o777, exist_ok=True)
    os.chmod(f'{tmp}/ngx', 0o777)
    conf = f'{tmp}/nginx.conf'
    with open(conf, 'w') as f:
        f.write(f"""user nobody nogroup;
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
{shipped}
}}
""")
    return procs.Proc('nginx', ['nginx', '-e', f'{tmp}/nginx-error.log', '-c', conf, '-g',
                                f'pid {tmp}/nginx.pid; daemon off;'], tmp, f'{tmp}/nginx.out')


class Load:
    """Client threads, each alternating GET / and POST /post (1 KiB) over both nginx servers,
    one request per connection; counts answers and failures under the current event."""

    def __init__(self, ports, threads):
        self.ports = ports
        self.event = 'start'
        self.counts = {}  # event -> [ok, failed, first failure]
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                        for k in range(threads)]

    def _one(self, port, post):
        body = b'x' * 1024
        req = (b'POST /post HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n'
               b'Content-Length: 1024\r\n\r\n' + body) if post else \
            b'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
                data = procs.exchange(s, req)
            return None if data.startswith(b'HTTP/1.1 200') else repr(data[:15])
        except OSError as e:
            return type(e).__name__

    def _run(self, k):
        n = k
        while not self.stop_flag.is_set():
            port = self.ports[n % len(self.ports)]
            post = (n // len(self.ports)) % 2 == 1
            failure = self._one(port, post)
            n += 1
            with self.lock:
                c = self.counts.setdefault(self.event, [0, 0, ''])
                if failure is None:
                    c[0] += 1
                else:
                    c[1] += 1
                    c[2] = c[2] or f'{"POST" if post else "GET"}: {failure}'

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(40)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--threads', type=int, default=8, help='client threads')
    ap.add_argument('--steady', type=float, default=5.0, help='seconds of each quiet period')
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit('run as root: nginx starts its workers as nobody')
    tmp = tempfile.mkdtemp(prefix='kiln-multihost-')
    uwsgi_port, http_port = procs.free_port(), procs.free_port()
    front_u, front_h = procs.free_port(), procs.free_port()
    starts = [0]
    timeline = []  # (event, seconds)

    def up(i):
        starts[0] += 1
        p = start_host(tmp, i, uwsgi_port, http_port, starts[0])
        procs.wait_ready(p, HOSTS[i], http_port, '/', timeout=30)
        return p

    hosts = [up(i) for i in range(3)]
    nginx = nginx_conf(tmp, uwsgi_port, http_port, front_u, front_h)
    procs.wait_ready(nginx, '127.0.0.1', front_u, '/')
    load = Load([front_u, front_h], args.threads)

    def event(name, action):
        load.event = name
        t0 = time.monotonic()
        action()
        timeline.append((name, time.monotonic() - t0))

    def graceful_stop(i):
        hosts[i].popen.send_signal(signal.SIGTERM)
        hosts[i].popen.wait(60)
        hosts[i].stop()
        time.sleep(1)

    def kill_master(i):
        os.kill(hosts[i].pid, signal.SIGKILL)
        hosts[i].popen.wait(10)
        time.sleep(1)

    def restart(i):
        hosts[i].stop()
        hosts[i] = up(i)
        time.sleep(2)

    def rolling_reload():
        for p in hosts:
            p.popen.send_signal(signal.SIGHUP)
            time.sleep(2)
        time.sleep(2)

    try:
        load.start()
        event('steady, three hosts', lambda: time.sleep(args.steady))
        event('graceful stop of host 1 (SIGTERM)', lambda: graceful_stop(0))
        event('steady, two hosts', lambda: time.sleep(args.steady))
        event('host 1 starts again and rejoins', lambda: restart(0))
        event('SIGKILL of host 2\'s master (+1 s)', lambda: kill_master(1))
        event('after the kill, two hosts', lambda: time.sleep(args.steady))
        event('host 2 starts again and rejoins', lambda: restart(1))
        event('rolling reload (SIGHUP every 2 s)', rolling_reload)
        event('steady, three hosts, after', lambda: time.sleep(args.steady))
        load.stop()
    finally:
        procs.stop_all()
    print(f'three kiln hosts (2 workers each, bench_app.py) behind nginx '
          f'(conf/nginx/kiln-upstream.conf), {args.threads} client threads, GET and POST '
          f'alternating over uwsgi_pass and keep-alive proxy_pass; logs in {tmp}')
    print('| event | seconds | requests | req/s | failed |')
    print('|---|---:|---:|---:|---:|')
    for name, secs in timeline:
        ok, failed, first = load.counts.get(name, [0, 0, ''])
        note = f' ({first})' if failed else ''
        print(f'| {name} | {secs:.1f} | {ok + failed} | {(ok + failed) / secs:.0f} | '
              f'{failed}{note} |')


if __name__ == '__main__':
    main()
