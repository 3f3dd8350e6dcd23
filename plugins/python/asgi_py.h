// The Python half of the ASGI server (asgi.cc runs it in the main interpreter of each worker):
// the worker's event loop, which runs the worker's first serving thread (serve), one task per
// request (the `http` scope comes built by asgi.cc), receive/send over the host's
// detached-request calls (through the `_kiln_asgi` module asgi.cc defines), and the lifespan
// protocol.
#pragma once

namespace kiln::python {

inline constexpr const char kAsgiPy[] = R"PY(
import asyncio, sys, traceback
import _kiln
import _kiln_asgi as _k

_DRAIN = _k.DRAIN_BYTES
_DISCONNECT = {'type': 'http.disconnect'}


_log = _kiln.log  # the server log, as the WSGI side writes it


def _make_loop(kind):
    if kind in ('uvloop', 'auto'):
        try:
            import uvloop
            return uvloop.new_event_loop(), 'uvloop'
        except ImportError:
            if kind == 'uvloop':
                raise
    return asyncio.new_event_loop(), 'asyncio'


class _Req:
    __slots__ = ('h', 'started', 'finished', 'gone', 'body_done', 'body_fut', 'disc_fut',
                 'drain_fut', 'unacked')

    def __init__(self, h):
        self.h = h
        self.started = self.finished = self.gone = self.body_done = False
        self.body_fut = self.disc_fut = self.drain_fut = None
        self.unacked = 0


class Runner:
    def __init__(self, loop_kind, lifespan, apps):
        self.loop, self.loop_name = _make_loop(loop_kind)
        asyncio.set_event_loop(self.loop)
        _log(1, 'ASGI event loop: %s' % self.loop_name)
        self.lifespan = lifespan
        self.apps = apps  # handle -> callable
        self.reqs = {}
        self.state = {}
        self.lifespans = []
        self.timer = None
        self.due = 0.0
        self.halted = False

    def serve(self):
        """Runs the loop and, from it, the serving thread (this one) until the worker stops."""
        loop = self.loop
        step = _k.step
        fd = _k.thread_fd()

        def tick():
            self.timer = None
            turn()

        def turn():
            if self.halted:
                return
            w = step()
            if w < 0:  # stop: the worker's requests are done (-1), or stop now (-2)
                # Once: a second stop() would end the lifespan shutdown's run too.
                self.halted = True
                loop.stop()
                return
            due = loop.time() + w
            # The deadline moves only at a sweep (or a fresh unix connection); 5 ms of slack
            # keeps the loop's cached clock from re-arming the timer on every turn.
            if self.timer is None or due < self.due - 0.005:
                if self.timer is not None:
                    self.timer.cancel()
                self.timer = loop.call_at(due, tick)
                self.due = due

        loop.add_reader(fd, turn)
        # Requests the worker's other serving threads (threads > 1) queue for this loop.
        loop.add_reader(_k.fd(), self._drain)
        loop.call_soon(turn)
        try:
            loop.run_forever()
        finally:
            loop.remove_reader(fd)
            loop.remove_reader(_k.fd())
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

    # ---- requests and events from kiln ----
    def begin(self, token, h, app, scope):
        r = _Req(h)
        self.reqs[token] = r
        self.loop.create_task(self._serve(token, r, self.apps[app], scope))

    def begin_ws(self, token, h, app, scope):
        """A WebSocket kiln has taken over, with its `http` scope (asgi_ws_py.h: _WsReq,
        _ws_serve, _ws_scope)."""
        r = self.reqs[token] = _WsReq(h, self.loop)
        self.loop.create_task(_ws_serve(self, token, r, self.apps[app], scope))

    def ws_event(self, ev):
        """A WebSocket's message or close: (5 text | 6 bytes | 7 close, token, ...)."""
        r = self.reqs.get(ev[1])
        if r is not None:
            r.event(ev)

    def event(self, kind, token, data=None, more=False):
        r = self.reqs.get(token)
        if r is None:
            return
        if type(r) is not _Req:  # a WebSocket: disconnect (2) and drained (3)
            r.event((kind, token, data, more))
            return
        if kind == 1:
            fut, r.body_fut = r.body_fut, None
            if fut is not None and not fut.done():
                fut.set_result((data, more))
        elif kind == 2:
            r.gone = True
            for fut in (r.body_fut, r.disc_fut, r.drain_fut):
                if fut is not None and not fut.done():
                    fut.set_result(None)
        elif kind == 3:
            fut, r.drain_fut = r.drain_fut, None
            r.unacked = 0
            if fut is not None and not fut.done():
                fut.set_result(None)

    def _drain(self):
        for ev in _k.take():
            kind = ev[0]
            if kind == 0:
                self.begin(*ev[1:])
            elif kind == 4:
                self.begin_ws(*ev[1:])
            elif kind >= 5:
                self.ws_event(ev)
            else:
                self.event(*ev)

    # ---- one request ----
    async def _serve(self, token, r, app, scope):
        loop = self.loop

        async def receive():
            if r.gone or r.finished:
                return _DISCONNECT
            if r.body_done:
                # Nothing more to read: the next message is the client leaving.
                if r.disc_fut is None:
                    r.disc_fut = loop.create_future()
                await r.disc_fut
                return _DISCONNECT
            r.body_fut = fut = loop.create_future()
            _k.want_body(r.h)
            got = await fut
            if got is None:
                return _DISCONNECT
            data, more = got
            if not more:
                r.body_done = True
            return {'type': 'http.request', 'body': data, 'more_body': more}

        async def send(message):
            t = message['type']
            if r.finished:
                raise RuntimeError('ASGI: %s sent after the response was complete' % t)
            if r.gone:
                return
            if t == 'http.response.start':
                if r.started:
                    raise RuntimeError('ASGI: http.response.start sent twice')
                headers = [(bytes(n), bytes(v)) for n, v in message.get('headers', ())]
                _k.start(r.h, int(message['status']), headers)
                r.started = True
            elif t == 'http.response.body':
                if not r.started:
                    raise RuntimeError('ASGI: http.response.body before http.response.start')
                body = bytes(message.get('body', b''))
                more = bool(message.get('more_body', False))
                if more:
                    # Counted before the write: on the loop's own serving thread the write
                    # happens in the call, and a drained event may come back inside it.
                    r.unacked += len(body)
                    if body:
                        _k.write(r.h, body, True)
                else:
                    r.finished = True
                    _k.finish(r.h, True, body)  # the last piece and the end, in one call
                    fut = r.disc_fut
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                    return
                if r.unacked >= _DRAIN:
                    r.drain_fut = fut = loop.create_future()
                    await fut
            else:
                raise RuntimeError('ASGI: unexpected message type %r' % t)

        try:
            await app(scope, receive, send)
            if not r.finished:
                _log(3, 'ASGI app returned without %s response for %s %s' % (
                    'completing its' if r.started else 'starting a', scope['method'],
                    scope['path']))
                r.finished = True
                _k.finish(r.h, False)
        except BaseException:
            _log(4, 'ASGI app failed on %s %s:\n%s' % (scope['method'], scope['path'],
                                                      traceback.format_exc().rstrip()))
            if not r.finished:
                r.finished = True
                _k.finish(r.h, False)
        finally:
            self.reqs.pop(token, None)

    # ---- lifespan (one per ASGI app of the worker) ----
    def startup(self, app):
        """Runs lifespan startup (the loop's thread, before it serves); an error text or None."""
        if self.lifespan == 'off':
            return None
        return self.loop.run_until_complete(self._startup(app))

    async def _startup(self, app):
        ls_in, ls_out = asyncio.Queue(), asyncio.Queue()
        scope = {'type': 'lifespan', 'asgi': {'version': '3.0', 'spec_version': '2.0'},
                 'state': self.state}

        async def main():
            try:
                await app(scope, ls_in.get, ls_out.put)
            except BaseException:
                await ls_out.put({'type': '_error', 'tb': traceback.format_exc().rstrip()})
            else:
                await ls_out.put({'type': '_returned'})

        task = self.loop.create_task(main())
        await ls_in.put({'type': 'lifespan.startup'})
        msg = await ls_out.get()
        t = msg['type']
        if t == 'lifespan.startup.complete':
            self.lifespans.append((ls_in, ls_out, task))
            return None
        if t == 'lifespan.startup.failed':
            return 'ASGI lifespan startup failed: %s' % msg.get('message', '')
        if self.lifespan == 'auto':
            _log(1, 'ASGI lifespan protocol appears unsupported by the app; going on without it'
                 + (':\n' + msg['tb'] if t == '_error' else ''))
            return None
        if t == '_error':
            return 'ASGI lifespan startup raised:\n' + msg['tb']
        return 'ASGI lifespan: the app returned before startup completed'

    def shutdown(self, timeout):
        """Lifespan shutdown, on the loop's thread once the serving threads stopped."""
        for ls in reversed(self.lifespans):
            try:
                err = self.loop.run_until_complete(
                    asyncio.wait_for(self._shutdown(*ls), timeout))
            except BaseException as e:
                err = 'ASGI lifespan shutdown did not complete: %r' % (e,)
            if err:
                _log(4, err)
        self.lifespans = []

    async def _shutdown(self, ls_in, ls_out, task):
        await ls_in.put({'type': 'lifespan.shutdown'})
        msg = await ls_out.get()
        t = msg['type']
        if t == 'lifespan.shutdown.failed':
            return 'ASGI lifespan shutdown failed: %s' % msg.get('message', '')
        if t == '_error':
            return 'ASGI lifespan shutdown raised:\n' + msg['tb']
        return None
)PY";

}  // namespace kiln::python
