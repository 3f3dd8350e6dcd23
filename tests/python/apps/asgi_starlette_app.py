# A Starlette app (Debian's python3-starlette) for tests/python/asgi_apps_test.cc: a streaming
# response whose pieces leave as they are produced, and a background task that runs after the
# response (it notes to $ASGI_LOG, as does a plain sync background function).
import asyncio
import os
import time

from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


def note(text):
    with open(os.environ['ASGI_LOG'], 'a') as f:
        f.write('%s %.3f\n' % (text, time.time()))


async def ticks(request):
    n = int(request.query_params.get('n', '3'))

    async def gen():
        for i in range(n):
            yield 'tick %d\n' % i
            await asyncio.sleep(0.3)
    return StreamingResponse(gen(), media_type='text/plain; charset=utf-8')


async def _async_task(name):
    await asyncio.sleep(0.5)
    note('task-async ' + name)


def _sync_task(name):
    time.sleep(0.2)  # Starlette runs a sync task in a thread: the loop goes on meanwhile
    note('task-sync ' + name)


async def signup(request):
    form = await request.json()
    note('answered ' + form['user'])
    tasks = BackgroundTasks()
    tasks.add_task(_async_task, form['user'])
    tasks.add_task(_sync_task, form['user'])
    return JSONResponse({'user': form['user'], 'status': 'queued'}, status_code=201,
                        background=tasks)


app = Starlette(routes=[Route('/ticks', ticks), Route('/signup', signup, methods=['POST'])])
