# A Starlette app (Debian's python3-starlette) for tests/python/asgi_test.cc: JSON, a request
# body, a streamed response and routing, over HTTP and through nginx.
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

async def hello(request):
    return JSONResponse({'hello': 'world', 'path': request.url.path,
                         'q': request.query_params.get('q')})

async def echo(request):
    body = await request.body()
    return JSONResponse({'len': len(body)})

async def stream(request):
    async def gen():
        for i in range(3):
            yield b'part%d\n' % i
    return StreamingResponse(gen(), media_type='text/plain')

app = Starlette(routes=[Route('/hello', hello), Route('/echo', echo, methods=['POST']),
                        Route('/stream', stream)])
