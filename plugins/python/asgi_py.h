// The Python half of the ASGI server (asgi.cc runs it in the main interpreter of each worker):
// the worker's event loop, which runs the worker's first serving thread (serve), the task an
// HTTP request runs as once it waits (_slot; the request itself, its receive/send and its first
// steps are C: asgi_http.cc), the WebSocket side (asgi_ws_py.h) and the lifespan protocol.
#pragma once

namespace kiln::python {

inline constexpr const char kAsgiPy[] = R"PY(
import asyncio, sys, traceback
import _kiln
import _kiln_asgi as _k

_DRAIN = _k.DRAIN_BYTES


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


class _Box:
    """What a request that waits hands its slot task (asgi_http.cc HandOver)."""
    __slots__ = ('wake', 'req', 'coro', 'first', 'ctx', 'closing')


async def _slot(box, loop):
    """The task a request runs as. kiln runs the app's first steps itself, with this task
    entered as the current one; if the app then waits, its coroutine is handed over here (box)
    and this task runs the rest, so the request is one task from start to end. Idle, it waits
    on box.wake."""
    exc = None
    while box.coro is None:
        try:
            await box.wake
        except asyncio.CancelledError as e:
            if box.closing:
                return
            if box.coro is not None:
                exc = e  # for the request handed over: delivered at its first wait
                break
            # A cancellation meant for a request that ended before its first wait.
            asyncio.current_task().uncancel()
            box.wake = loop.create_future()
    await _Continue(box, exc)


class _Continue:
    """Runs a handed-over coroutine (in the request's context) from where kiln left it: the
    value it yielded goes to the task first, then whatever the task sends or throws goes on to
    the coroutine, until it ends."""
    __slots__ = ('box', 'exc')

    def __init__(self, box, exc):
        self.box = box
        self.exc = exc

    def __await__(self):
        box = self.box
        coro, ctx, req, y, exc = box.coro, box.ctx, box.req, box.first, self.exc
        box.coro = box.ctx = box.req = box.first = None
        while True:
            if exc is None:
                try:
                    yield y
                except BaseException as e:
                    exc = e
            try:
                if exc is None:
                    y = ctx.run(coro.send, None)
                else:
                    e, exc = exc, None
                    y = ctx.run(coro.throw, e)
            except StopIteration:
                req.done(None)
                return
            except BaseException:
                req.done(traceback.format_exc().rstrip())
                return


class Runner:
    def __init__(self, loop_kind, lifespan, apps):
        # Not made the creating thread's current loop (asyncio.set_event_loop): everything
        # that runs in the loop finds it as the running one, and WSGI apps on this thread
        # (a worker with both kinds runs the loop on a thread of its own) see no loop of ours.
        self.loop, self.loop_name = _make_loop(loop_kind)
        self.thread = None
        _log(1, 'ASGI event loop: %s' % self.loop_name)
        self.lifespan = lifespan
        self.apps = apps  # handle -> callable
        self.reqs = {}  # WebSockets by token (asgi_ws_py.h); HTTP requests live in asgi_http.cc
        self.state = {}
        self.lifespans = []

    def serve(self):
        """Runs the loop and, from it, the serving thread (this one) until the worker stops:
        _k.turn (C) steps the serving thread when its epoll descriptor is readable or its
        timer is due."""
        loop = self.loop
        fd = _k.serve_begin()
        loop.add_reader(fd, _k.turn)
        # Requests the worker's other serving threads (threads > 1) queue for this loop.
        loop.add_reader(_k.fd(), self._drain)
        loop.call_soon(_k.turn)
        try:
            loop.run_forever()
        finally:
            loop.remove_reader(fd)
            loop.remove_reader(_k.fd())
            _k.serve_end()

    def start_queued(self):
        """A worker with WSGI apps too: the loop runs on a thread of its own and every serving
        thread hands its ASGI requests over (as the other threads do in serve), so its WSGI
        requests never wait on a turn of the loop."""
        import threading
        self.thread = threading.Thread(target=self._run_queued, name='kiln-asgi', daemon=True)
        self.thread.start()

    def _run_queued(self):
        loop = self.loop
        loop.add_reader(_k.fd(), self._drain)
        try:
            loop.run_forever()
        finally:
            loop.remove_reader(_k.fd())
            _k.serve_end()

    def stop_queued(self, timeout):
        """Every serving thread stopped: the loop stops taking turns. False when an app keeps it
        from stopping within `timeout` seconds (the thread is then left to the process's
        exit; its calls into kiln are dropped already)."""
        if self.thread is None:
            return True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if self.thread.is_alive():
            return False
        self.thread = None
        return True

    def new_slot(self):
        """A fresh idle task for requests to run as (asgi_http.cc), and its box."""
        box = _Box()
        box.wake = self.loop.create_future()
        box.req = box.coro = box.first = box.ctx = None
        box.closing = False
        return self.loop.create_task(_slot(box, self.loop)), box

    # ---- requests and events from kiln ----
    def begin(self, token, h, app, scope):
        _k.begin(token, h, self.apps[app], scope)

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
        """A WebSocket's disconnect (2) or drained (3), or an HTTP request's event from another
        serving thread's queue (asgi_http.cc takes those)."""
        if _k.http_event(kind, token, data, more):
            return
        r = self.reqs.get(token)
        if r is not None:
            r.event((kind, token, data, more))

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
