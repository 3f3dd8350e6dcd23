#!/usr/bin/python3
# CTest bench_floors_answer: the floor backends that bench/macro/run.py measures kiln against
# answer as they should, so a broken floor cannot make every ratio of a run meaningless.
#  - floor_uwsgi: 200 requests on new unix connections, one with a body it must read first;
#  - floor_wsgi: 200 requests of examples/hello/hello.py's exact answer (its keys are kept
#    between requests: a reference-count slip shows up within a few), and 2 workers;
#  - floor_http: two keep-alive requests on one connection, then one with Connection: close;
#  - floor_lua (with --lua, when the build has the lua plugin): 200 keep-alive requests of
#    examples/lua/hello.lua's answer on one connection, each with its own path and query, then
#    one with Connection: close, and 2 workers.
# Usage: floor_check.py BUILD_DIR/bench [--lua]
import os
import socket
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'macro'))
import procs  # noqa: E402

HELLO_PY = os.path.join(HERE, '..', '..', 'examples', 'hello', 'hello.py')
HELLO_LUA = os.path.join(HERE, '..', '..', 'examples', 'lua', 'hello.lua')
HELLO = (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n'
         b'Hello, World!\n')


def packet(env, body=b''):
    data = b''.join(struct.pack('<H', len(k)) + k.encode() + struct.pack('<H', len(v)) +
                    v.encode() for k, v in env.items())
    return struct.pack('<BHB', 0, len(data), 0) + data + body


def wait_unix(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            with open(proc.log_path, errors='replace') as f:
                raise SystemExit(f'{proc.name} exited with {proc.popen.returncode}:\n{f.read()}')
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f'{proc.name} did not listen on {path}')


def exchange(path, data):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(data)
        out = b''
        while chunk := s.recv(65536):
            out += chunk
        return out


def read_response(s):
    """One HTTP/1.1 response with a Content-Length from the socket: (status line, header lines
    as a sorted list, body). Lua tables have no order, so the headers are compared as a set."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit(f'connection closed after {data!r}')
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.split(b'\r\n')
    length = [int(h.split(b':')[1]) for h in lines[1:] if h.lower().startswith(b'content-length:')]
    if len(length) != 1:
        raise SystemExit(f'no single Content-Length in {head!r}')
    while len(body) < length[0]:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit(f'connection closed within the body: {body!r}')
        body += chunk
    if len(body) != length[0]:
        raise SystemExit(f'{len(body) - length[0]} bytes past the body: {body!r}')
    return lines[0], sorted(lines[1:]), body


def check_lua(bench, tmp):
    port = procs.free_port()
    p = procs.Proc('floor_lua', [f'{bench}/floor_lua', '-l', f'127.0.0.1:{port}', '-w', '2',
                                 HELLO_LUA], tmp, f'{tmp}/l.out')
    want_headers = [b'Content-Length: 14', b'Content-Type: text/plain']
    try:
        procs.wait_ready(p, '127.0.0.1', port, '/')
        with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
            for i in range(200):
                s.sendall(f'GET /p{i}?q={i} HTTP/1.1\r\nHost: x\r\nX-N: {i}\r\n\r\n'.encode())
                check(f'floor_lua keep-alive request {i}', read_response(s),
                      (b'HTTP/1.1 200 OK', want_headers, b'Hello, world!\n'))
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            check('floor_lua Connection: close', read_response(s),
                  (b'HTTP/1.1 200 OK', sorted(want_headers + [b'Connection: close']),
                   b'Hello, world!\n'))
            check('floor_lua after Connection: close', s.recv(1), b'')
        if len(p.pids()) != 2:
            raise SystemExit(f'floor_lua -w 2 runs {len(p.pids())} processes')
    finally:
        p.stop()


def check(what, got, want):
    if got != want:
        raise SystemExit(f'{what}: expected {want!r}, got {got!r}')


def main():
    bench = sys.argv[1]
    env = {'REQUEST_METHOD': 'GET', 'REQUEST_URI': '/', 'PATH_INFO': '/', 'QUERY_STRING': '',
           'SERVER_PROTOCOL': 'HTTP/1.1', 'SERVER_NAME': 'x', 'SERVER_PORT': '80',
           'REMOTE_ADDR': '127.0.0.1', 'HTTP_HOST': 'x'}
    with tempfile.TemporaryDirectory(prefix='kiln-floors-') as tmp:
        sock = f'{tmp}/u.sock'
        p = procs.Proc('floor_uwsgi', [f'{bench}/floor_uwsgi', '-l', sock, '-w', '2'], tmp,
                       f'{tmp}/u.out')
        try:
            wait_unix(sock, p)
            want = (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n'
                    b'Connection: close\r\n\r\nHello, World!\n')
            for i in range(200):
                check(f'floor_uwsgi request {i}', exchange(sock, packet(env)), want)
            post = dict(env, REQUEST_METHOD='POST', CONTENT_LENGTH='100')
            check('floor_uwsgi with a body', exchange(sock, packet(post, b'b' * 100)), want)
        finally:
            p.stop()

        sock = f'{tmp}/w.sock'
        p = procs.Proc('floor_wsgi', [f'{bench}/floor_wsgi', '-l', sock, '-w', '2', HELLO_PY],
                       tmp, f'{tmp}/w.out', env={'PYTHONDONTWRITEBYTECODE': '1'})
        try:
            wait_unix(sock, p)
            for i in range(200):
                check(f'floor_wsgi request {i}', exchange(sock, packet(env)), HELLO)
            if len(p.pids()) != 2:
                raise SystemExit(f'floor_wsgi -w 2 runs {len(p.pids())} processes')
        finally:
            p.stop()

        port = procs.free_port()
        p = procs.Proc('floor_http', [f'{bench}/floor_http', '-l', f'127.0.0.1:{port}'], tmp,
                       f'{tmp}/h.out')
        try:
            procs.wait_ready(p, '127.0.0.1', port, '/')
            keep = (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n'
                    b'Hello, World!\n')
            with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
                for i in range(2):
                    s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
                    got = b''
                    while len(got) < len(keep):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                    check(f'floor_http keep-alive request {i}', got, keep)
                s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                got = b''
                while chunk := s.recv(65536):
                    got += chunk
                check('floor_http Connection: close', got.split(b'\r\n')[0], b'HTTP/1.1 200 OK')
        finally:
            p.stop()
        if '--lua' in sys.argv[2:]:
            check_lua(bench, tmp)
    print('floor_uwsgi, floor_wsgi, floor_http' + (' and floor_lua' if '--lua' in sys.argv[2:]
                                                   else '') + ' answer as expected')


if __name__ == '__main__':
    main()
