// The Python half of the ASGI server (asgi.cc runs it in the main interpreter of each worker):
// the worker's event loop on its own thread, the `http` scope built from the request's CGI
// variables, receive/send over the host's detached-request calls (through the `_kiln_asgi`
// module asgi.cc defines), and the lifespan protocol.
#pragma once

namespace kiln::python {

inline constexpr const char kAsgiPy[] = R"PY(
import asyncio, sys, threading, traceback
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


def _text(b):
    return b.decode('utf-8', 'surrogateescape')


def _addr(host, port):
    if not host:
        return None
    try:
        return (host.decode('latin-1'), int(port))
    except ValueError:
        return (host.decode('latin-1'), None)


def _scope(env, state):
    headers = []
    for name, value in env.items():
        if name.startswith('HTTP_'):
            headers.append((name[5:].replace('_', '-').lower().encode('latin-1'), value))
        elif name == 'CONTENT_TYPE' and value:
            headers.append((b'content-type', value))
        elif name == 'CONTENT_LENGTH' and value:
            headers.append((b'content-length', value))
    proto = env.get('SERVER_PROTOCOL', b'HTTP/1.1')
    https = env.get('HTTPS', b'').lower() in (b'on', b'1') or env.get('UWSGI_SCHEME') == b'https'
    uri = env.get('REQUEST_URI', b'')
    q = uri.find(b'?')
    raw_path = uri if q < 0 else uri[:q]
    return {
        'type': 'http',
        'asgi': {'version': '3.0', 'spec_version': '2.3'},
        'http_version': proto[5:].decode('latin-1') if proto.startswith(b'HTTP/') else '1.1',
        'method': env.get('REQUEST_METHOD', b'GET').decode('latin-1'),
        'scheme': 'https' if https else 'http',
        'path': _text(env.get('PATH_INFO', b'')) or '/',
        'raw_path': raw_path or None,
        'query_string': env.get('QUERY_STRING', b''),
        'root_path': _text(env.get('SCRIPT_NAME', b'')),
        'headers': headers,
        'client': _addr(env.get('REMOTE_ADDR'), env.get('REMOTE_PORT', b'0')),
        'server': _addr(env.get('SERVER_NAME'), env.get('SERVER_PORT', b'0')),
        'state': dict(state),
    }


class Runner:
    def __init__(self, loop_kind, lifespan, apps):
        self.loop, self.loop_name = _make_loop(loop_kind)
        _log(1, 'ASGI event loop: %s' % self.loop_name)
        self.lifespan = lifespan
        self.apps = apps  # handle -> callable
        self.reqs = {}
        self.state = {}
        self.lifespans = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name='kiln-asgi', daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.add_reader(_k.fd(), self._drain)
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    # ---- events from kiln ----
    def _drain(self):
        for ev in _k.take():
            kind = ev[0]
            if kind == 4:  # a WebSocket (asgi_ws_py.h)
                _, token, h, app, env = ev
                r = self.reqs[token] = _WsReq(h, self.loop)
                self.loop.create_task(_ws_serve(self, token, r, self.apps[app], env))
                continue
            if kind == 0:
                _, token, h, app, env = ev
                r = _Req(h)
                self.reqs[token] = r
                self.loop.create_task(self._serve(token, r, self.apps[app], env))
                continue
            r = self.reqs.get(ev[1])
            if r is None:
                continue
            if type(r) is not _Req:
                r.event(ev)
                continue
            if kind == 1:
                fut, r.body_fut = r.body_fut, None
                if fut is not None and not fut.done():
                    fut.set_result((ev[2], ev[3]))
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

    # ---- one request ----
    async def _serve(self, token, r, app, env):
        loop = self.loop
        scope = _scope(env, self.state)

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
                if body or not more:
                    _k.write(r.h, body, more)
                if not more:
                    r.finished = True
                    _k.finish(r.h, True)
                    fut = r.disc_fut
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                    return
                r.unacked += len(body)
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
        """Runs lifespan startup (main thread); returns an error text or None."""
        if self.lifespan == 'off':
            return None
        return asyncio.run_coroutine_threadsafe(self._startup(app), self.loop).result()

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
        for ls in reversed(self.lifespans):
            try:
                err = asyncio.run_coroutine_threadsafe(self._shutdown(*ls), self.loop).result(
                    timeout)
            except Exception as e:
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
