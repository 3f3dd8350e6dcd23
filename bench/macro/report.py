# Turns the macro benchmark's measurements into docs/performance/results.md (tables and the
# issue's targets, met or missed), results.csv (one line per server and row) and results.png.
import csv
import statistics


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(cells):
    rows = []
    by_key = {}
    for c in cells:
        if not c.runs:
            continue
        rps = [r['rps'] for r in c.runs]
        s = {'row': c.row, 'variant': c.variant, 'server': c.server, 'role': c.role,
             'rps': _med(rps), 'rps_min': min(rps), 'rps_max': max(rps),
             'p50_ms': _med([r['p50_ms'] for r in c.runs]),
             'p99_ms': _med([r['p99_ms'] for r in c.runs]),
             'cpu_us': _med([r['cpu_us'] for r in c.runs]),
             'cpu_min': min(r['cpu_us'] for r in c.runs),
             'cpu_max': max(r['cpu_us'] for r in c.runs),
             'nginx_cpu_us': _med([r['front_cpu_us'] for r in c.runs]),
             'errors': sum(r['errors'] + r['non2xx'] for r in c.runs),
             'served_conns': min((r['served_conns'] for r in c.runs if 'served_conns' in r),
                                 default=None),
             'scrapes': sum(r.get('scrapes', 0) for r in c.runs),
             'scrapes_failed': sum(r.get('scrapes_failed', 0) for r in c.runs),
             'runs': len(c.runs),
             'cpu_rounds': [r['cpu_us'] for r in c.runs]}
        rows.append(s)
        by_key[(c.row, c.variant, c.server)] = s
    for s in rows:
        peer = by_key.get((s['row'], s['variant'], 'uWSGI'))
        if s['row'] == 2:
            peer = by_key.get((1, 'uwsgi_pass hello', 'uWSGI'))
        floor = by_key.get((s['row'], s['variant'], 'floor'))
        s['rps_vs_uwsgi'] = _ratio(s['rps'], peer and peer['rps'])
        s['cpu_vs_uwsgi'] = _ratio(s['cpu_us'], peer and peer['cpu_us'])
        s['rps_vs_floor'] = _ratio(s['rps'], floor and floor['rps'])
        s['cpu_vs_floor'] = _ratio(s['cpu_us'], floor and floor['cpu_us'])
    return rows, by_key


def _ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def _f(x, fmt='{:.2f}'):
    return '-' if x is None else fmt.format(x)


FIELDS = ['row', 'variant', 'server', 'rps', 'rps_min', 'rps_max', 'p50_ms', 'p99_ms', 'cpu_us',
          'nginx_cpu_us', 'rps_vs_uwsgi', 'cpu_vs_uwsgi', 'rps_vs_floor', 'cpu_vs_floor',
          'errors', 'served_conns', 'scrapes', 'runs']


def _checker(by_key):
    """(out, get, check): the verdict lines, a field of one summarized cell, and a function
    that appends one target's line to out (ok None: no verdict)."""
    out = []

    def get(row, variant, server, field):
        s = by_key.get((row, variant, server))
        return s and s[field]

    def check(name, ok, detail):
        verdict = '-' if ok is None else ('met' if ok else 'MISSED')
        out.append(f'| {name} | {detail} | {verdict} |')
    return out, get, check


def _targets(by_key, extra):
    out, get, check = _checker(by_key)

    v = 'uwsgi_pass hello'
    kc, uc, fc = (get(1, v, s, 'cpu_us') for s in ('kiln', 'uWSGI', 'floor'))
    if kc and uc and fc:
        check('Row 1: CPU/req <= 0.8x uWSGI', kc <= 0.8 * uc, f'{kc / uc:.2f}x')
        check('Row 1: CPU/req <= 1.3x floor', kc <= 1.3 * fc, f'{kc / fc:.2f}x')
        kr, ur = get(1, v, 'kiln', 'rps'), get(1, v, 'uWSGI', 'rps')
        check('Row 1: req/s >= uWSGI', kr >= ur, f'{kr / ur:.2f}x')
        kp, up = get(1, v, 'kiln', 'p99_ms'), get(1, v, 'uWSGI', 'p99_ms')
        check('Row 1: p99 <= uWSGI', kp <= up, f'{kp:.2f} ms vs {up:.2f} ms')
    v = 'uwsgi_pass flask'
    kc, uc = get(1, v, 'kiln', 'cpu_us'), get(1, v, 'uWSGI', 'cpu_us')
    if kc and uc:
        check('Row 1 Flask: CPU/req <= uWSGI', kc <= uc, f'{kc:.1f} us vs {uc:.1f} us')
    k2, u1 = get(2, 'proxy_pass keepalive hello', 'kiln', 'rps'), get(1, 'uwsgi_pass hello',
                                                                       'uWSGI', 'rps')
    if k2 and u1:
        check('Row 2: req/s >= 1.5x uWSGI row 1', k2 >= 1.5 * u1, f'{k2 / u1:.2f}x')
    v = 'direct keep-alive hello'
    k3, u3 = get(3, v, 'kiln', 'rps'), get(3, v, 'uWSGI', 'rps')
    if k3 and u3:
        check('Row 3: keep-alive req/s >= 3x uWSGI http-socket', k3 >= 3 * u3, f'{k3 / u3:.2f}x')
        sc = get(3, v, 'kiln', 'served_conns')
        check('Row 3: all 64 keep-alive connections served', sc == 64 if sc is not None else None,
              f'{sc}/64')
    for r in extra.get('reloads', []):
        if r['server'] == 'kiln':
            check('Row 7: zero failed requests over the reloads', r['failed'] == 0,
                  f'{r["failed"]} failed of {r["requests"]} ({r["reloads"]} reloads)')
            check('Row 7: slowest request < 100 ms', r['max_ms'] < 100,
                  f'{r["max_ms"]:.0f} ms')
    st = extra.get('startup', {})
    if 'kiln' in st and 'uWSGI' in st:
        k, u = _med(st['kiln']['startup_s']), _med(st['uWSGI']['startup_s'])
        check('Row 8: start-up <= uWSGI', k <= u, f'{k * 1e3:.0f} ms vs {u * 1e3:.0f} ms')
        k, u = _med(st['kiln']['worker_rss']), _med(st['uWSGI']['worker_rss'])
        check('Row 9: RSS per worker <= uWSGI', k <= u, f'{k / 1024:.1f} MiB vs {u / 1024:.1f} MiB')
    return out


FEATURES = 'kiln, all features'  # run.py's cell with every feature of issue 20's batch on
FLOOR_PY = 'floor + CPython'  # run.py's floor_wsgi cell: floor_uwsgi plus a bare WSGI call
FLOOR_LUA = 'floor + LuaJIT'  # run.py's floor_lua cell: floor_http plus a bare WSAPI call


def _cpu(s):
    return f'{s["cpu_us"]:.1f} ({s["cpu_min"]:.1f}-{s["cpu_max"]:.1f})'


def _features(rows, by_key):
    """Issue 20: kiln's hello world plain against the same with every new feature on, per
    row and shape that has both cells."""
    out = []
    for s in rows:
        if s['server'] != FEATURES:
            continue
        plain = by_key.get((s['row'], s['variant'], 'kiln'))
        if not plain:
            continue
        out.append(f'| {s["row"]} | {s["variant"]} | {plain["rps"]:.0f} '
                   f'({plain["rps_min"]:.0f}-{plain["rps_max"]:.0f}) | {s["rps"]:.0f} '
                   f'({s["rps_min"]:.0f}-{s["rps_max"]:.0f}) | '
                   f'{_f(_ratio(s["rps"], plain["rps"]))} | {_cpu(plain)} | {_cpu(s)} | '
                   f'{_f(_ratio(s["cpu_us"], plain["cpu_us"]))} | '
                   f'{s["scrapes"]} ({s["scrapes_failed"]} failed) |')
    return out


def _targets_20(by_key, extra):
    """Issue 20's targets that one run of the suite measures."""
    out, get, check = _checker(by_key)

    def rounds(row, variant, a, b):
        # The ratio within each round, where the two ran next to each other: the machine's
        # speed drifts between rounds (docs/performance.md), and a row's medians mix rounds.
        ra, rb = get(row, variant, a, 'cpu_rounds'), get(row, variant, b, 'cpu_rounds')
        if not ra or not rb or len(ra) != len(rb):
            return ''
        return '; rounds ' + ', '.join(f'{x / y:.2f}' for x, y in zip(ra, rb) if y)

    kc, fc = (get(1, 'uwsgi_pass hello', s, 'cpu_us') for s in ('kiln', 'floor'))
    if kc and fc:
        check('Row 1 hello: CPU/req <= 1.10x floor', kc <= 1.10 * fc,
              f'{kc / fc:.2f}x' + rounds(1, 'uwsgi_pass hello', 'kiln', 'floor'))
    pc = get(1, 'uwsgi_pass hello', FLOOR_PY, 'cpu_us')
    if kc and fc and pc:
        # Not a target: how much of the gap the Python call itself accounts for on this machine.
        check('Row 1 hello, for reference: floor + CPython against the floor (CPU/req)', None,
              f'{pc / fc:.2f}x; kiln {kc / pc:.2f}x floor + CPython' +
              rounds(1, 'uwsgi_pass hello', FLOOR_PY, 'floor'))
    kr, fr = (get(3, 'direct keep-alive hello', s, 'rps') for s in ('kiln', 'floor'))
    if kr and fr:
        check('Row 3 keep-alive: req/s >= 0.90x floor', kr >= 0.90 * fr, f'{kr / fr:.2f}x')
    kc, fc = (get(6, 'direct keep-alive Lua hello', s, 'cpu_us') for s in ('kiln', 'floor'))
    if kc and fc:
        check('Row 6 Lua: CPU/req <= 1.30x floor', kc <= 1.30 * fc,
              f'{kc / fc:.2f}x' + rounds(6, 'direct keep-alive Lua hello', 'kiln', 'floor'))
    lc = get(6, 'direct keep-alive Lua hello', FLOOR_LUA, 'cpu_us')
    if kc and fc and lc:
        # Not a target: how much of the gap the Lua call itself accounts for on this machine.
        check('Row 6 Lua, for reference: floor + LuaJIT against the floor (CPU/req)', None,
              f'{lc / fc:.2f}x; kiln {kc / lc:.2f}x floor + LuaJIT' +
              rounds(6, 'direct keep-alive Lua hello', FLOOR_LUA, 'floor'))
    kc, fc = (get(1, 'uwsgi_pass flask', s, 'cpu_us') for s in ('kiln', 'floor'))
    app = (extra.get('app_cost') or {}).get('flask')
    if kc and fc and app:
        bound = 1.4 * (app + fc)
        check('Row 1 Flask JSON: CPU/req <= 1.4x (app in-process + floor)', kc <= bound,
              f'{kc:.1f} us vs 1.4 x ({app:.1f} + {fc:.1f}) = {bound:.1f} us '
              f'({kc / (app + fc):.2f}x)')
    for variant in ('uwsgi_pass hello', 'direct keep-alive hello', 'direct close hello'):
        row = 1 if variant.startswith('uwsgi') else 3
        pc, xc = get(row, variant, 'kiln', 'cpu_us'), get(row, variant, FEATURES, 'cpu_us')
        if pc and xc:
            check(f'Row {row} {variant}: all features add nothing measurable (CPU/req)', None,
                  f'{xc / pc:.2f}x plain (judge with the spread and the instruction count)')
    return out


def write(outdir, cells, extra, meta):
    rows, by_key = summarize(cells)
    with open(f'{outdir}/results.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction='ignore')
        w.writeheader()
        for s in rows:
            w.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()})
    md = [f'# Benchmark results ({meta["started"]})', '',
          f'Command: `{meta["command"]}`; {meta["rounds"]} round(s) of {meta["duration"]} s per '
          f'cell, servers alternating (odd rounds forward, even rounds reversed); wrk -t2 -c64. '
          f'Finished {meta["finished"]}.', '',
          'Load average (1/5/15 min) before and after each round: ' +
          '; '.join(f'round {r}: {a} -> {b}' for r, a, b in meta['loadavg']), '',
          '## Throughput rows (1-6)', '',
          'req/s: median of the rounds (min-max). CPU: server (master + workers) utime+stime '
          'per request; nginx CPU separately. Ratios: kiln and peers against uWSGI in the same '
          'row (row 2: against uWSGI\'s row 1 hello world) and against the floor backend.', '',
          '| row | shape | server | req/s | spread | p50 ms | p99 ms | CPU us/req | nginx us/req '
          '| req/s / uWSGI | CPU / uWSGI | req/s / floor | CPU / floor | errors | conns served |',
          '|' + ' --- |' * 15]
    for s in rows:
        md.append(f'| {s["row"]} | {s["variant"]} | {s["server"]} | {s["rps"]:.0f} | '
                  f'{s["rps_min"]:.0f}-{s["rps_max"]:.0f} | {_f(s["p50_ms"])} | '
                  f'{_f(s["p99_ms"])} | {_f(s["cpu_us"], "{:.1f}")} | '
                  f'{_f(s["nginx_cpu_us"], "{:.1f}")} | {_f(s["rps_vs_uwsgi"])} | '
                  f'{_f(s["cpu_vs_uwsgi"])} | {_f(s["rps_vs_floor"])} | '
                  f'{_f(s["cpu_vs_floor"])} | {s["errors"]} | '
                  f'{_f(s["served_conns"], "{}")} |')
    ac = extra.get('app_cost')
    if ac:
        md += ['', 'In-process cost of the app alone (one call, no server, hot): ' +
               (f'hello world {ac["hello"]:.1f} us, Flask /api/v1/health {ac["flask"]:.1f} us.'
                if 'hello' in ac else f'not measured: {ac.get("error")}')]
    if extra.get('reloads'):
        md += ['', '## Row 7: SIGHUP under load', '',
               '8 client threads, one GET per new connection, direct HTTP socket; the next '
               'SIGHUP goes out when the previous reload finished (log line) plus 0.3 s.', '',
               '| server | reloads | seconds | requests | failed | slow > 100 ms | p99 ms | '
               'max ms | failures |', '|' + ' --- |' * 9]
        for r in extra['reloads']:
            md.append(f'| {r["server"]} | {r["reloads"]} | {r["seconds"]:.1f} | '
                      f'{r["requests"]} | {r["failed"]} | {r["slow_100ms"]} | '
                      f'{_f(r["p99_ms"], "{:.1f}")} | {_f(r["max_ms"], "{:.0f}")} | '
                      f'{r["fail_kinds"] or "-"} |')
    if extra.get('startup'):
        md += ['', '## Rows 8-9: start-up and memory', '',
               'Start-up: process start to the first 200 answer (median of the rounds). Memory '
               'after 1 s of load: VmRSS of the master and the mean of the workers; PSS summed '
               'over all processes (shared pages counted once).', '',
               '| server | start-up ms | master RSS MiB | RSS per worker MiB | total PSS MiB | '
               'processes |', '|' + ' --- |' * 6]
        for name, d in extra['startup'].items():
            md.append(f'| {name} | {_med(d["startup_s"]) * 1e3:.0f} | '
                      f'{_med(d["master_rss"]) / 1024:.1f} | {_med(d["worker_rss"]) / 1024:.1f} | '
                      f'{_med(d["total_pss"]) / 1024:.1f} | {d["nproc"]} |')
    feat = _features(rows, by_key)
    if feat:
        md += ['', '## Every new feature on (issue 20)', '',
               f'"{FEATURES}": the hello world of the "kiln" cell as the only vassal of kiln\'s '
               'emperor, with stats + stats-http (/metrics scraped once a second during the '
               'cell), cheaper mode (busyness; bounds that keep 2 workers), an ASGI app mounted '
               'at /asgi with manage-script-name, the master FIFO and log-maxsize. CPU counts '
               'the emperor, the master and the workers.', '',
               '| row | shape | kiln req/s (spread) | all features req/s (spread) | req/s ratio '
               '| kiln CPU us/req (spread) | all features CPU us/req (spread) | CPU ratio | scrapes |',
               '|' + ' --- |' * 9] + feat
    md += ['', '## Targets (issue 9)', '', '| target | measured | verdict |', '| --- | --- | --- |']
    md += _targets(by_key, extra)
    t20 = _targets_20(by_key, extra)
    if t20:
        md += ['', '## Targets (issue 20)', '', '| target | measured | verdict |',
               '| --- | --- | --- |'] + t20
    with open(f'{outdir}/results.md', 'w') as f:
        f.write('\n'.join(md) + '\n')
    _chart(f'{outdir}/results.png', rows)


def _chart(path, rows):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib missing (apt-get install python3-matplotlib): no chart written')
        return
    labels = [f'{s["row"]} {s["variant"]}: {s["server"]}' for s in rows]
    colors = {'kiln': '#d95f02', 'peer': '#7570b3', 'peer2': '#1b9e77', 'floor': '#999999',
              'ref': '#66a61e'}
    col = [colors.get(s['role'], '#333333') for s in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 0.32 * len(rows) + 1.5), sharey=True)
    y = list(range(len(rows)))[::-1]
    a1.barh(y, [s['rps'] for s in rows], color=col)
    a1.set_xlabel('req/s (median)')
    a1.set_yticks(y)
    a1.set_yticklabels(labels, fontsize=7)
    a2.barh(y, [s['cpu_us'] or 0 for s in rows], color=col)
    a2.set_xlabel('server CPU us per request (median)')
    a2.set_xscale('log')
    for a in (a1, a2):
        a.grid(axis='x', alpha=0.3)
    fig.suptitle('kiln (orange) vs uWSGI (purple), Gunicorn (green), nginx (light green), '
                 'floor (grey)', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
