# A FastAPI app (Debian's python3-fastapi) for tests/python/asgi_apps_test.cc: JSON with path and
# query parameters, a pydantic model whose validation error is FastAPI's 422, a streaming
# response, and a background task that runs after the response (it notes to $ASGI_LOG).
import asyncio
import os
import time

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()


def note(text):
    with open(os.environ['ASGI_LOG'], 'a') as f:
        f.write('%s %.3f\n' % (text, time.time()))


class Item(BaseModel):
    name: str
    price: float


@app.get('/items/{item_id}')
async def read_item(item_id: int, q: str = None):
    return {'item_id': item_id, 'q': q}


@app.post('/items')
async def create_item(item: Item):
    return {'name': item.name, 'price_with_tax': round(item.price * 1.2, 2)}


@app.get('/stream')
async def stream():
    async def parts():
        for i in range(3):
            yield b'chunk%d\n' % i
            await asyncio.sleep(0.3)
    return StreamingResponse(parts(), media_type='text/plain', headers={'x-stream': 'yes'})


async def _later(what):
    await asyncio.sleep(0.5)
    note('background ' + what)


@app.post('/notify/{what}')
async def notify(what: str, tasks: BackgroundTasks):
    note('answered ' + what)
    tasks.add_task(_later, what)
    return {'queued': what}
