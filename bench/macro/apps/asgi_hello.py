# A raw ASGI hello world with no imports, so it loads fast (also under valgrind): the app
# bench/macro/asgi.py serves as `hello` (through asgi_bench) and the app the "all features"
# cells of run.py and callgrind.py mount at /asgi beside the WSGI hello world.
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
