# The ASGI apps bench/macro/asgi.py serves with kiln and uvicorn alike: a raw ASGI hello world
# (`hello`) and a Starlette JSON endpoint (`starlette`, GET /json).
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from asgi_hello import hello  # noqa: F401 (served as asgi_bench:hello)


async def _json(request):
    return JSONResponse({'status': 'ok', 'items': [1, 2, 3], 'name': 'kiln'})


starlette = Starlette(routes=[Route('/json', _json)])
