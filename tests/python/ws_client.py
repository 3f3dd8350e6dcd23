"""WebSocket peer for asgi_websocket_test.cc: Debian's `websockets` (10.x) client, plus raw
frames for what a well-behaved client never sends. Usage: ws_client.py MODE URL [ARGS];
prints one line per finding, which the test matches."""
import asyncio
import base64
import os
import socket
import struct
import sys
import time
import urllib.request

import websockets


def out(*a):
    print(*a, flush=True)


async def echo(url):
    async with websockets.connect(url, subprotocols=['other', 'chat'], max_size=None) as ws:
        out('subprotocol', ws.subprotocol)
        await ws.send('héllo')
        out('text', await ws.recv())
        await ws.send(b'\x00\x01\xff')
        out('binary', repr(await ws.recv()))
        # 1 MiB in 16 fragments of 64 KiB: kiln joins them into one message.
        piece = b'abcdefgh' * 8192
        await ws.send(iter([piece] * 16))
        got = await ws.recv()
        out('fragmented', len(got), got == piece * 16)
        pong = await ws.ping(b'are you there')
        await asyncio.wait_for(pong, 5)
        out('pong')
        await ws.close(4001, 'client done')
        out('closed', ws.close_code, ws.close_reason)


async def server_close(url):
    async with websockets.connect(url) as ws:
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            out('closed', e.rcvd.code, e.rcvd.reason)


async def reject(url):
    try:
        async with websockets.connect(url):
            out('accepted?!')
    except websockets.InvalidStatusCode as e:
        out('status', e.status_code)


async def scope(url):
    async with websockets.connect(url, subprotocols=['a', 'b'],
                                  extra_headers={'X-Test': 'yes'}) as ws:
        out(await ws.recv())


async def starlette(url):
    async with websockets.connect(url) as ws:
        await ws.send('ping')
        out('starlette', await ws.recv())
        await ws.send('bye')
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            out('closed', e.rcvd.code)


async def flood(url, paused, count_file):
    """Reads nothing for `paused` seconds, says how much the app had sent by then (it keeps
    the count in count_file), then reads everything."""
    async with websockets.connect(url, max_size=None, max_queue=1) as ws:
        ws.transport.pause_reading()
        await asyncio.sleep(float(paused))
        with open(count_file) as f:
            out('sent while paused', f.read())
        ws.transport.resume_reading()
        total = 0
        try:
            while True:
                total += len(await ws.recv())
        except websockets.ConnectionClosed:
            pass
        out('received', total)


async def many(url, n, http_url):
    conns = [await websockets.connect(url) for _ in range(int(n))]
    out('open', len(conns))
    with urllib.request.urlopen(http_url, timeout=10) as r:
        out('http', r.status, r.read().decode())
    ok = 0
    for i, ws in enumerate(conns):
        await ws.send('n%d' % i)
        ok += (await ws.recv()) == 'n%d' % i
    out('echoed', ok)
    for ws in conns:
        await ws.close()


async def stop_server(url, pid):
    """Connects, makes the server stop gracefully (SIGTERM to its master) and waits."""
    async with websockets.connect(url) as ws:
        await ws.send('still here')
        out('echo', await ws.recv())
        os.kill(int(pid), 15)
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            out('closed', e.rcvd.code, e.rcvd.reason)


async def hold(url, seconds):
    """Keeps one socket open for `seconds`, echoing a message every second."""
    async with websockets.connect(url) as ws:
        n = 0
        for i in range(int(seconds)):
            await asyncio.sleep(1)
            await ws.send('t%d' % i)
            n += (await ws.recv()) == 't%d' % i
        out('held', n)


# ---- raw frames ----

def raw_connect(url):
    hostport, _, path = url[len('ws://'):].partition('/')
    host, port = hostport.rsplit(':', 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(('GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n'
               % (path, hostport, key)).encode())
    head = b''
    while b'\r\n\r\n' not in head:
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit('no handshake answer')
        head += chunk
    out('handshake', head.split(b'\r\n')[0].decode())
    return s


def frame(opcode, payload, masked=True, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if masked else 0
    if n < 126:
        h = struct.pack('!BB', b0, m | n)
    elif n < 65536:
        h = struct.pack('!BBH', b0, m | 126, n)
    else:
        h = struct.pack('!BBQ', b0, m | 127, n)
    if not masked:
        return h + payload
    key = os.urandom(4)
    return h + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def read_close(s):
    """Reads frames until a close frame; prints its code."""
    buf = b''
    deadline = time.time() + 10
    while time.time() < deadline:
        while len(buf) >= 2:
            op, n = buf[0] & 0x0F, buf[1] & 0x7F
            off = 2
            if n == 126:
                n, off = struct.unpack('!H', buf[2:4])[0], 4
            elif n == 127:
                n, off = struct.unpack('!Q', buf[2:10])[0], 10
            if len(buf) < off + n:
                break
            payload, buf = buf[off:off + n], buf[off + n:]
            if op == 8:
                out('close', struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else 1005)
                return
        chunk = s.recv(65536)
        if not chunk:
            out('eof without close')
            return
        buf += chunk
    out('no close in time')


def raw(url, what):
    s = raw_connect(url)
    if what == 'unmasked':
        s.sendall(frame(1, b'hi', masked=False))
    elif what == 'bad-utf8':
        s.sendall(frame(1, b'ok \xc3\x28 no'))
    elif what == 'too-big':
        s.sendall(frame(2, b'x' * (100 * 1024)))
    elif what == 'big-ping':
        s.sendall(frame(9, b'p' * 126))
    read_close(s)
    s.close()


def main():
    mode, url, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == 'raw':
        raw(url, *rest)
        return
    fn = {'echo': echo, 'server-close': server_close, 'reject': reject, 'scope': scope,
          'starlette': starlette, 'flood': flood, 'many': many,
          'stop-server': stop_server, 'hold': hold}[mode]
    asyncio.run(asyncio.wait_for(fn(url, *rest), 60))


main()
