#!/usr/bin/python3
# The emperor benchmark: kiln's emperor against uWSGI 2.0's (Debian's `uwsgi`), on this machine.
#  1. spawn: the time from writing a new vassal file (a Python hello app on a TCP http-socket)
#     to its first answered request, median of --spawns runs per emperor;
#  2. idle: the emperor process's own CPU time over --idle seconds and its RSS/PSS with
#     --vassals idle vassals (Lua hello apps, one worker each), vassals not counted.
# Both emperors run with their defaults (uWSGI scans every 3 s; kiln uses inotify).
# Usage (docs/performance.md): /usr/bin/python3 bench/macro/emperor.py [--vassals 50]
import argparse
import os
import signal
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
import servers as sv  # noqa: E402

H = '127.0.0.1'


def vassal_ini(server, app, port, idle):
    """One vassal file's text for `server` ('kiln' or 'uwsgi')."""
    lines = ['[uwsgi]', 'master = true', 'processes = 1', f'http-socket = {H}:{port}']
    if app == 'lua':
        lines += ['plugins = lua', f'lua = {sv.HELLO_LUA}']
        if server == 'uwsgi':
            lines += ['http-socket-modifier1 = 6']
    else:
        lines += ['plugins = python3', f'wsgi-file = {sv.HELLO_PY}']
    if server == 'uwsgi':
        lines += ['die-on-term = true']
    if idle:
        lines += ['disable-logging = true']
    return '\n'.join(lines) + '\n'


def start_emperor(server, tmp, vassals):
    log = f'{tmp}/{server}-emperor.log'
    if server == 'kiln':
        argv = [sv.KILN, '--emperor', vassals]
        return procs.Proc(f'{server}-emperor', argv, tmp, log)
    argv = ['uwsgi', '--emperor', vassals, '--die-on-term']
    return procs.Proc(f'{server}-emperor', argv, tmp, log, stop_signal=signal.SIGINT)


def write(path, text):
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.rename(path + '.tmp', path)  # appears whole, as a deployment tool writes it


def spawn_times(server, tmp, runs):
    vassals = tempfile.mkdtemp(prefix=f'{server}-spawn-', dir=tmp)
    emperor = start_emperor(server, tmp, vassals)
    time.sleep(1.0)
    out = []
    try:
        for i in range(runs):
            port = procs.free_port()
            path = f'{vassals}/v{i}.ini'
            t0 = time.monotonic()
            write(path, vassal_ini(server, 'python', port, idle=False))
            deadline = t0 + 30
            while time.monotonic() < deadline and not procs.http_get_ok(H, port, timeout=0.5):
                time.sleep(0.005)
            if time.monotonic() >= deadline:
                raise RuntimeError(f'{server}: vassal {path} never answered (see {emperor.log_path})')
            out.append(time.monotonic() - t0)
            os.unlink(path)
            time.sleep(1.0)
    finally:
        emperor.stop(timeout=20)
    return out


def idle_cost(server, tmp, count, seconds):
    vassals = tempfile.mkdtemp(prefix=f'{server}-idle-', dir=tmp)
    ports = [procs.free_port() for _ in range(count)]
    for i, port in enumerate(ports):
        write(f'{vassals}/v{i:02d}.ini', vassal_ini(server, 'lua', port, idle=True))
    emperor = start_emperor(server, tmp, vassals)
    try:
        deadline = time.monotonic() + 120
        for port in ports:
            while not procs.http_get_ok(H, port, timeout=0.5):
                if time.monotonic() > deadline:
                    raise RuntimeError(f'{server}: not every vassal answered')
                time.sleep(0.05)
        time.sleep(2.0)
        before = procs.cpu_ticks([emperor.pid])
        time.sleep(seconds)
        cpu_ms = procs.ticks_to_us(procs.cpu_ticks([emperor.pid]) - before) / 1000
        rss, pss = procs.memory_kib(emperor.pid)
        tree = len(emperor.pids())
    finally:
        emperor.stop(timeout=60)
    return cpu_ms, rss, pss, tree


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vassals', type=int, default=50)
    ap.add_argument('--idle', type=float, default=30.0, help='seconds of idle CPU measured')
    ap.add_argument('--spawns', type=int, default=5)
    args = ap.parse_args()
    if not os.access(sv.KILN, os.X_OK):
        sys.exit(f'{sv.KILN} not built (cmake --build --preset ci)')
    rows = []
    with tempfile.TemporaryDirectory(prefix='kiln-emperor-bench-') as tmp:
        try:
            for server in ('kiln', 'uwsgi'):
                spawns = spawn_times(server, tmp, args.spawns)
                cpu_ms, rss, pss, tree = idle_cost(server, tmp, args.vassals, args.idle)
                rows.append((server, spawns, cpu_ms, rss, pss, tree))
        finally:
            procs.stop_all()
    print(f'| emperor | new file to first answer (median of {args.spawns}; min-max) | '
          f'emperor CPU over {args.idle:.0f} s idle, {args.vassals} vassals | emperor RSS | '
          f'emperor PSS | processes in the tree |')
    print('| --- | --- | --- | --- | --- | --- |')
    for server, spawns, cpu_ms, rss, pss, tree in rows:
        name = 'kiln' if server == 'kiln' else 'uWSGI 2.0.21 (Debian)'
        print(f'| {name} | {statistics.median(spawns) * 1000:.0f} ms '
              f'({min(spawns) * 1000:.0f}-{max(spawns) * 1000:.0f}) | {cpu_ms:.0f} ms | '
              f'{rss / 1024:.1f} MiB | {pss / 1024:.1f} MiB | {tree} |')


if __name__ == '__main__':
    main()
