# A raw ASGI app for tests/python/asgi_faults_test.cc: a request that blocks the worker's event
# loop (time.sleep), one that awaits, one that grows the worker's memory, and body readers that
# note each message they receive to $ASGI_LOG (one line each, with the path).
import asyncio
import os
import time
from urllib.parse import parse_qs

_hoard = []


def note(text):
    with open(os.environ['ASGI_LOG'], 'a') as f:
        f.write('%s %d\n' % (text, os.getpid()))


async def _answer(send, body, status=200):
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': body})


async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    path = scope['path']
    q = {k: v[0] for k, v in parse_qs(scope['query_string'].decode()).items()}
    note('start ' + path)
    if path == '/block':
        time.sleep(float(q.get('s', '30')))  # blocks the whole loop of this worker
        await _answer(send, b'unblocked')
    elif path == '/sleep':
        await asyncio.sleep(float(q.get('s', '1')))
        await _answer(send, b'slept')
    elif path == '/pid':
        await _answer(send, str(os.getpid()).encode())
    elif path == '/grow':
        _hoard.append(bytearray(int(q.get('mb', '10')) << 20))
        await _answer(send, b'grown')
    elif path == '/read':
        if 'wait' in q:
            await asyncio.sleep(float(q['wait']))
            note('reading ' + path)
        size = 0
        while True:
            m = await receive()
            note(m['type'] + ' ' + path)
            if m['type'] == 'http.disconnect':
                return
            size += len(m['body'])
            if not m['more_body']:
                break
        await _answer(send, b'read %d' % size)
    elif path == '/noread':
        await _answer(send, b'answered without reading')
    else:
        await _answer(send, b'not found', 404)
