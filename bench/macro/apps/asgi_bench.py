# The ASGI apps bench/macro/asgi.py serves with kiln and uvicorn alike: a raw ASGI hello world
# (`hello`) and a Starlette JSON endpoint (`starlette`, GET /json); `wsgi_hello` is the WSGI twin
# of `hello` that kiln serves for the uwsgi_pass row.
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

_HEAD = {'type': 'http.response.start', 'status': 200,
         'headers': [(b'content-type', b'text/plain'), (b'content-length', b'13')]}
_BODY = {'type': 'http.response.body', 'body': b'Hello, World!'}


async def hello(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            m = await receive()
            if m['type'] == 'lifespan.startup':
                await send({'type': 'lifespan.startup.complete'})
            elif m['type'] == 'lifespan.shutdown':
                await send({'type': 'lifespan.shutdown.complete'})
                return
    await send(_HEAD)
    await send(_BODY)


async def _json(request):
    return JSONResponse({'status': 'ok', 'items': [1, 2, 3], 'name': 'kiln'})


starlette = Starlette(routes=[Route('/json', _json)])


def wsgi_hello(environ, start_response):
    """The WSGI twin of `hello` (same head and body), for the uwsgi_pass row."""
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, World!']
