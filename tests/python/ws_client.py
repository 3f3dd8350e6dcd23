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
import zlib

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
    the count in count_file), then reads everything. Uncompressed: the app's 64 MiB of one
    byte would deflate to a few hundred KiB, which the socket buffers would take whole."""
    async with websockets.connect(url, max_size=None, max_queue=1, compression=None) as ws:
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


async def quiet(url, seconds):
    """Stays silent for `seconds` (the library's own pings off; it answers kiln's itself, and
    the pongs it sends are counted), then echoes a message."""
    async with websockets.connect(url, ping_interval=None) as ws:
        answered = []
        library_pong = ws.pong

        async def counted_pong(data=b''):
            answered.append(bytes(data))
            await library_pong(data)

        ws.pong = counted_pong  # what the library calls for each ping it receives
        await asyncio.sleep(float(seconds))
        await ws.send('after quiet')
        out('echo', await asyncio.wait_for(ws.recv(), 5))
        out('pongs', len(answered), 'payloads', sorted(set(answered)))


class WireCount:
    """Counts the bytes a connection's socket carries each way (frames as on the wire)."""

    def __init__(self, ws):
        self.sent = self.received = 0
        write, received = ws.transport.write, ws.data_received

        def counted_write(data):
            self.sent += len(data)
            write(data)

        def counted_received(data):
            self.received += len(data)
            received(data)

        ws.transport.write = counted_write
        ws.data_received = counted_received


async def deflate(url):
    """permessage-deflate with kiln: what the 101 agreed, then large repetitive and random
    messages both ways (one of them fragmented), with the bytes each took on the wire."""
    async with websockets.connect(url, max_size=None) as ws:
        out('extensions', ws.response_headers.get('Sec-WebSocket-Extensions'))
        out('negotiated', [type(e).__name__ for e in ws.extensions])
        wire = WireCount(ws)
        line = '{"user": "someone", "status": "online", "note": "h\u00e9llo w\u00f6rld"}\n'
        cases = [('repetitive-text', line * 20000),
                 ('random-binary', os.urandom(1 << 20)),
                 ('repetitive-binary', b'abcdefgh' * 65536),
                 ('small-text', 'hi')]
        for name, msg in cases:
            sent0, received0 = wire.sent, wire.received
            await ws.send(msg)
            got = await ws.recv()
            out(name, len(msg), got == msg, 'sent', wire.sent - sent0,
                'received', wire.received - received0)
        # 16 fragments: one compressed message over a first frame and 15 continuations.
        frags = [('fragment %02d ' % i) * 4096 for i in range(16)]
        await ws.send(iter(frags))
        got = await ws.recv()
        out('fragmented', len(got), got == ''.join(frags))
        await ws.close(4001, 'client done')
        out('closed', ws.close_code, ws.close_reason)


async def accept_headers(url):
    """The 101 for an app whose accept names a subprotocol and headers of its own."""
    async with websockets.connect(url, subprotocols=['a', 'b']) as ws:
        out('subprotocol', ws.subprotocol)
        out('x-reply', ws.response_headers.get('x-reply'))
        out('extensions', ws.response_headers.get('Sec-WebSocket-Extensions'))
        await ws.recv()


# ---- raw frames ----

def raw_connect(url, extensions=None):
    hostport, _, path = url[len('ws://'):].partition('/')
    host, port = hostport.rsplit(':', 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    offer = '' if extensions is None else 'Sec-WebSocket-Extensions: %s\r\n' % extensions
    s.sendall(('GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n'
               % (path, hostport, key, offer)).encode())
    head = b''
    while b'\r\n\r\n' not in head:
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit('no handshake answer')
        head += chunk
    lines = head.decode().split('\r\n')
    out('handshake', lines[0])
    for h in lines[1:]:
        if h.lower().startswith('sec-websocket-extensions:'):
            out('extensions', h.split(':', 1)[1].strip())
    return s


def deflated(data, wbits=15):
    """A message compressed as RFC 7692 7.2.1 says: raw DEFLATE, sync flush, tail left off."""
    c = zlib.compressobj(9, zlib.DEFLATED, -wbits)
    z = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert z.endswith(b'\x00\x00\xff\xff')
    return z[:-4]


def frame(opcode, payload, masked=True, fin=True, rsv1=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
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


def read_frame(s):
    """One whole server frame: (first byte, payload)."""
    buf = b''
    while True:
        if len(buf) >= 2:
            n, off = buf[1] & 0x7F, 2
            if n == 126 and len(buf) >= 4:
                n, off = struct.unpack('!H', buf[2:4])[0], 4
            elif n == 127 and len(buf) >= 10:
                n, off = struct.unpack('!Q', buf[2:10])[0], 10
            if n < 126 or off > 2:
                while len(buf) < off + n:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise SystemExit('eof inside a frame')
                    buf += chunk
                return buf[0], buf[off:off + n]
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit('eof before a frame')
        buf += chunk


def split_frames(buf):
    """The whole server frames at the start of buf: ([(opcode, payload)], the rest)."""
    frames = []
    while len(buf) >= 2:
        n, off = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, off = struct.unpack('!H', buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, off = struct.unpack('!Q', buf[2:10])[0], 10
        if len(buf) < off + n:
            break
        frames.append((buf[0] & 0x0F, buf[off:off + n]))
        buf = buf[off + n:]
    return frames, buf


def raw_keepalive(url, seconds, mode):
    """Sends nothing for `seconds` (at most) and counts the server's pings; `answer` answers
    each with a masked pong and echoes a message at the end, `silent` never answers and
    reports when the server closed (seconds since the handshake)."""
    s = raw_connect(url)
    start = time.monotonic()
    s.settimeout(0.1)
    pings, buf, payload = 0, b'', None
    while time.monotonic() - start < float(seconds):
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            out('eof_at %.2f' % (time.monotonic() - start))
            break
        frames, buf = split_frames(buf + chunk)
        for op, data in frames:
            if op == 9:
                pings += 1
                payload = data
                if mode == 'answer':
                    s.sendall(frame(10, data))
            elif op == 8:
                code = struct.unpack('!H', data[:2])[0] if len(data) >= 2 else 1005
                out('close %d %s' % (code, data[2:].decode()))
                out('close_at %.2f' % (time.monotonic() - start))
            else:
                out('unexpected frame', op)
    out('pings', pings, 'payload', payload)
    if mode == 'answer':
        s.settimeout(5)
        s.sendall(frame(1, b'still here'))
        b0, data = read_frame(s)
        while b0 & 0x0F == 9:  # a ping that crossed our message
            b0, data = read_frame(s)
        out('echo', data.decode())
    s.close()


def raw_deflate(url, what):
    """Raw frames on a connection that offered permessage-deflate."""
    s = raw_connect(url, 'permessage-deflate')
    if what == 'hello':
        # RFC 7692 7.2.3.1's "Hello", compressed by hand; the echo comes back compressed.
        s.sendall(frame(1, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv1=True))
        b0, payload = read_frame(s)
        out('reply rsv1', bool(b0 & 0x40), 'text', zlib.decompressobj(-15).decompress(
            payload + b'\x00\x00\xff\xff').decode())
        s.sendall(frame(1, b'plain'))  # a message may also go uncompressed
        b0, payload = read_frame(s)
        out('reply rsv1', bool(b0 & 0x40), 'len', len(payload))
        s.sendall(frame(8, struct.pack('!H', 1000)))
    elif what == 'rsv1-ping':
        s.sendall(frame(9, b'p', rsv1=True))
    elif what == 'rsv1-continuation':
        z = deflated(b'hello there, hello there')
        s.sendall(frame(1, z[:5], fin=False, rsv1=True) + frame(0, z[5:], rsv1=True))
    elif what == 'corrupt':
        s.sendall(frame(2, b'\xff\xff\xff\xff\xff', rsv1=True))
    elif what == 'bad-utf8':
        s.sendall(frame(1, deflated(b'ok \xc3\x28 no'), rsv1=True))
    elif what == 'bomb':
        # About 60 KiB on the wire (under a 64 KiB websocket-max-size), 60 MiB inflated.
        z = deflated(b'\0' * (60 << 20))
        out('bomb frame', len(z))
        s.sendall(frame(2, z, rsv1=True))
    read_close(s)
    s.close()


def raw(url, what):
    if what.startswith('deflate-'):
        raw_deflate(url, what[len('deflate-'):])
        return
    s = raw_connect(url)
    if what == 'unmasked':
        s.sendall(frame(1, b'hi', masked=False))
    elif what == 'bad-utf8':
        s.sendall(frame(1, b'ok \xc3\x28 no'))
    elif what == 'too-big':
        s.sendall(frame(2, b'x' * (100 * 1024)))
    elif what == 'big-ping':
        s.sendall(frame(9, b'p' * 126))
    elif what == 'rsv1':  # no extension offered, so none agreed
        s.sendall(frame(1, deflated(b'hello'), rsv1=True))
    read_close(s)
    s.close()


def main():
    mode, url, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == 'raw':
        raw(url, *rest)
        return
    if mode == 'raw-keepalive':
        raw_keepalive(url, *rest)
        return
    fn = {'echo': echo, 'server-close': server_close, 'reject': reject, 'scope': scope,
          'starlette': starlette, 'flood': flood, 'many': many,
          'stop-server': stop_server, 'hold': hold, 'deflate': deflate,
          'accept-headers': accept_headers, 'quiet': quiet}[mode]
    asyncio.run(asyncio.wait_for(fn(url, *rest), 60))


main()
