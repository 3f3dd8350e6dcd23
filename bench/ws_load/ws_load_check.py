#!/usr/bin/python3
# CTest ws_load_counts_echoes: ws_load counts what it should. Debian's uvicorn (with
# python3-websockets) serves counting_echo.py (an echo that reports how many messages each
# connection echoed); ws_load runs for 1 s with 2 connections against /ws (every handshake
# done, no error, and its count of echoes the server's, less at most one in flight per
# connection at the deadline) and against a path whose handshake the app refuses (two errors,
# no message, and no crash).
# Usage: ws_load_check.py PATH/TO/ws_load
import os
import re
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'macro'))
import procs  # noqa: E402



def run(ws_load, port, path):
    out = subprocess.run([ws_load, '-c', '2', '-d', '1', f'127.0.0.1:{port}', path],
                         capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        raise SystemExit(f'ws_load exited {out.returncode}: {out.stderr}')
    fields = dict(re.findall(r'(\w+)=([\d.]+)', out.stdout))
    print(f'{path}: {out.stdout.strip()}')
    sys.stdout.flush()
    return {k: float(v) for k, v in fields.items()}


def main():
    ws_load = sys.argv[1]
    port = procs.free_port()
    with tempfile.TemporaryDirectory(prefix='kiln-ws-load-') as tmp:
        counts = f'{tmp}/counts'
        p = procs.Proc('uvicorn', ['/usr/bin/python3', '-m', 'uvicorn', 'counting_echo:app',
                                   '--host', '127.0.0.1', '--port', str(port), '--ws',
                                   'websockets', '--no-access-log', '--app-dir', HERE],
                       tmp, f'{tmp}/uvicorn.out',
                       env={'PYTHONDONTWRITEBYTECODE': '1', 'WS_ECHO_COUNTS': counts})
        try:
            procs.wait_ready(p, '127.0.0.1', port, '/')
            good = run(ws_load, port, '/ws')
            server = []
            deadline = time.monotonic() + 10
            while len(server) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
                if os.path.exists(counts):
                    with open(counts) as f:
                        server = [int(x) for x in f.read().split()]
            bad = run(ws_load, port, '/nowhere')
        finally:
            p.stop()
    failures = []
    if good.get('handshakes') != 2 or good.get('errors') != 0 or good.get('messages', 0) <= 0:
        failures.append(f'/ws: expected 2 handshakes, messages > 0 and 0 errors: {good}')
    echoed = sum(server)
    print(f'the server echoed {server} (sum {echoed})')
    if len(server) != 2 or not 0 <= echoed - good.get('messages', -1) <= 2:
        failures.append(f'/ws: the server echoed {server} (sum {echoed}) for ws_load\'s '
                        f'{good.get("messages")}')
    rate = good.get('messages', 0) / max(good.get('seconds', 0), 1e-9)
    if abs(good.get('messages_per_s', 0) - rate) > 0.01 * rate:
        failures.append(f'/ws: messages_per_s is not messages / seconds: {good}')
    if bad.get('handshakes') != 0 or bad.get('errors') != 2 or bad.get('messages') != 0:
        failures.append(f'/nowhere: expected 0 handshakes, 2 errors, 0 messages: {bad}')
    for f in failures:
        print('FAIL', f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
