# The ASGI apps bench/macro/asgi.py serves with kiln and uvicorn alike: a raw ASGI hello world
# (`hello`), a Starlette JSON endpoint (`starlette`, GET /json) and a raw ASGI WebSocket echo
# (`ws_echo`, at /ws; it refuses the handshake elsewhere and answers HTTP GETs with the hello);
# `wsgi_hello` is the WSGI twin of `hello` that kiln serves for the uwsgi_pass row.
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_hello import hello  # noqa: F401 (served as asgi_bench:hello)


async def ws_echo(scope, receive, send):
    if scope['type'] != 'websocket':
        await hello(scope, receive, send)
        return
    m = await receive()  # websocket.connect
    if scope['path'] != '/ws':
        await send({'type': 'websocket.close', 'code': 1008})
        return
    await send({'type': 'websocket.accept'})
    while True:
        m = await receive()
        if m['type'] == 'websocket.disconnect':
            return
        if m.get('text') is not None:
            await send({'type': 'websocket.send', 'text': m['text']})
        else:
            await send({'type': 'websocket.send', 'bytes': m['bytes']})


async def _json(request):
    return JSONResponse({'status': 'ok', 'items': [1, 2, 3], 'name': 'kiln'})


starlette = Starlette(routes=[Route('/json', _json)])


def wsgi_hello(environ, start_response):
    """The WSGI twin of `hello` (same head and body), for the uwsgi_pass row."""
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, World!']
