#!/usr/bin/python3
# What a graceful stop does to clients that keep connecting: 16 client threads open a
# connection per GET /echo against a 2-worker kiln (built-in handler, TCP on loopback); after
# 0.5 s kiln gets SIGTERM. Every request ends answered (200), refused at connect (ECONNREFUSED,
# which a balancer retries elsewhere) or reset after it was sent (lost). Prints the counts per
# stop; a reset is a connection kiln's kernel accepted and nobody served (docs/operations.md,
# "Graceful stop and drain-delay"; the numbers are in docs/performance.md).
# Usage: /usr/bin/python3 bench/macro/stop_race.py [--stops 10] [--kiln PATH]
import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
import servers as sv  # noqa: E402

KINDS = ('ok', 'refused', 'reset', 'other')


def one(port):
    try:
        c = socket.create_connection(('127.0.0.1', port), timeout=5)
    except ConnectionRefusedError:
        return 'refused'
    except OSError:
        return 'other'
    with c:
        try:
            data = procs.exchange(
                c, b'GET /echo HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n')
            return 'ok' if data.startswith(b'HTTP/1.1 200') else 'reset'
        except (ConnectionResetError, BrokenPipeError):
            return 'reset'
        except OSError:
            return 'other'


def stop_once(kiln, threads):
    port = procs.free_port()
    p = subprocess.Popen([kiln, '--master', '--builtin-handler', '--processes', '2',
                          '--http-socket', f'127.0.0.1:{port}', '--disable-logging'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not procs.http_get_ok('127.0.0.1', port, '/echo'):
            if time.monotonic() > deadline:
                raise RuntimeError('kiln did not answer within 10 s')
            time.sleep(0.02)
        stop = threading.Event()
        counts = dict.fromkeys(KINDS, 0)
        lock = threading.Lock()

        def loop():
            while not stop.is_set():
                kind = one(port)
                with lock:
                    counts[kind] += 1
                if kind == 'refused':
                    time.sleep(0.001)

        ts = [threading.Thread(target=loop) for _ in range(threads)]
        for t in ts:
            t.start()
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        time.sleep(0.3)
        stop.set()
        for t in ts:
            t.join()
        return counts
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--stops', type=int, default=10)
    ap.add_argument('--threads', type=int, default=16)
    ap.add_argument('--kiln', default=sv.KILN)
    args = ap.parse_args()
    total = dict.fromkeys(KINDS, 0)
    for i in range(args.stops):
        counts = stop_once(args.kiln, args.threads)
        print(f'stop {i + 1}: ' + ', '.join(f'{k} {counts[k]}' for k in KINDS), flush=True)
        for k in KINDS:
            total[k] += counts[k]
    print('total: ' + ', '.join(f'{k} {total[k]}' for k in KINDS))


if __name__ == '__main__':
    main()
