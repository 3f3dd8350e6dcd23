// The Python half of WebSocket for ASGI apps, run after asgi_py.h's code in the same
// namespace (it uses _k, _log, _DRAIN): the `websocket` scope, and receive/send for
// one connection over the host's whole-message calls. The loop asks kiln for the next message
// while fewer than _WS_AHEAD wait for the app, so a client that floods an app which does not
// read stops being read (TCP pushes back), and pings are answered meanwhile.
#pragma once

namespace kiln::python {

inline constexpr const char kAsgiWsPy[] = R"PY(
import collections

_WS_AHEAD = 4


def _ws_scope(s):
    """The `websocket` scope from the `http` scope kiln built in C (asgi.cc, ScopeBuilder)."""
    del s['method']
    s['type'] = 'websocket'
    s['scheme'] = 'wss' if s['scheme'] == 'https' else 'ws'
    offered = b','.join(v for n, v in s['headers'] if n == b'sec-websocket-protocol')
    s['subprotocols'] = [p.strip().decode('latin-1') for p in offered.split(b',') if p.strip()]
    return s


class _WsReq:
    """One WebSocket: state 0 handshake, 1 accepted, 2 closed (or refused) by the app."""
    __slots__ = ('h', 'loop', 'state', 'connect_sent', 'queue', 'wanting', 'waiter', 'ended',
                 'end_msg', 'drain_fut', 'unacked', 'finished', 'gone', 'close_code',
                 'subprotocols')

    def __init__(self, h, loop):
        self.h = h
        self.loop = loop
        self.state = 0
        self.connect_sent = self.wanting = self.ended = self.finished = self.gone = False
        self.queue = collections.deque()
        self.waiter = self.drain_fut = self.end_msg = None
        self.unacked = 0
        self.close_code = 1000
        self.subprotocols = ()

    def _want(self):
        if (self.state == 1 and not self.wanting and not self.ended and not self.finished
                and len(self.queue) < _WS_AHEAD):
            self.wanting = True
            _k.ws_receive(self.h)

    def _end(self, code, reason=''):
        if not self.ended:
            self.ended = True
            self.end_msg = {'type': 'websocket.disconnect', 'code': code, 'reason': reason}
            self.queue.append(self.end_msg)

    def event(self, ev):
        """A host event (Runner._drain)."""
        kind = ev[0]
        if kind == 5:
            self.wanting = False
            self.queue.append({'type': 'websocket.receive', 'text': ev[2]})
            self._want()
        elif kind == 6:
            self.wanting = False
            self.queue.append({'type': 'websocket.receive', 'bytes': ev[2]})
            self._want()
        elif kind == 7:
            self.wanting = False
            self._end(ev[3], ev[2])
        elif kind == 2:
            self.gone = True
            self.wanting = False
            self._end(1006)
        if kind in (2, 3):
            self.unacked = 0
            fut, self.drain_fut = self.drain_fut, None
            if fut is not None and not fut.done():
                fut.set_result(None)
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def receive(self):
        if not self.connect_sent:
            self.connect_sent = True
            return {'type': 'websocket.connect'}
        while True:
            if self.queue:
                msg = self.queue[0]
                if msg is not self.end_msg:  # the disconnect stays, for every later call
                    self.queue.popleft()
                    self._want()
                return msg
            if self.state == 2:
                return {'type': 'websocket.disconnect', 'code': self.close_code, 'reason': ''}
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    async def send(self, message):
        t = message['type']
        if self.finished:
            raise RuntimeError('ASGI: %s sent after the WebSocket ended' % t)
        if t == 'websocket.send':
            if self.state != 1:
                raise RuntimeError('ASGI: websocket.send %s' % (
                    'before websocket.accept' if self.state == 0 else 'after websocket.close'))
            text, data = message.get('text'), message.get('bytes')
            if text is not None:
                payload, binary = text.encode('utf-8'), False
            elif data is not None:
                payload, binary = bytes(data), True
            else:
                raise RuntimeError("ASGI: websocket.send needs 'text' or 'bytes'")
            if self.gone or self.ended:
                return  # the client closed: kiln would drop it
            # Counted first: on the loop's serving thread the write may report "drained" (which
            # zeroes the count) before ws_send returns.
            self.unacked += len(payload)
            _k.ws_send(self.h, payload, binary)
            if self.unacked >= _DRAIN:
                self.drain_fut = fut = self.loop.create_future()
                await fut
        elif t == 'websocket.accept':
            if self.state != 0:
                raise RuntimeError('ASGI: websocket.accept sent %s' % (
                    'twice' if self.state == 1 else 'after websocket.close'))
            sub = message.get('subprotocol') or ''
            if sub and sub not in self.subprotocols:
                raise RuntimeError('ASGI: websocket.accept with subprotocol %r, which the client '
                                   'did not offer (%r)' % (sub, list(self.subprotocols)))
            headers = [(bytes(n), bytes(v)) for n, v in message.get('headers', ())]
            _k.ws_accept(self.h, sub.encode('latin-1'), headers)
            self.state = 1
            self._want()
        elif t == 'websocket.close':
            if self.state == 2:
                return
            self.close_code = int(message.get('code') or 1000)
            reason = message.get('reason') or ''
            _k.ws_close(self.h, self.close_code, reason.encode('utf-8'))
            self.state = 2
        else:
            raise RuntimeError('ASGI: unexpected message type %r on a WebSocket' % t)


async def _ws_serve(runner, token, r, app, scope):
    scope = _ws_scope(scope)
    r.subprotocols = scope['subprotocols']
    ok = True
    try:
        await app(scope, r.receive, r.send)
    except BaseException:
        ok = False
        _log(4, 'ASGI app failed on WebSocket %s:\n%s' % (scope['path'],
                                                        traceback.format_exc().rstrip()))
    finally:
        r.finished = True
        _k.finish(r.h, ok)
        runner.reqs.pop(token, None)
)PY";

}  // namespace kiln::python
