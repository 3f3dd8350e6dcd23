# A raw ASGI app for tests/python/asgi_test.cc covering the scope, streamed bodies both ways,
# disconnect and lifespan. The lifespan events go to $ASGI_LOG (one line each, with the pid).
import asyncio, os

def note(text):
    with open(os.environ['ASGI_LOG'], 'a') as f:
        f.write('%s %d\n' % (text, os.getpid()))

async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            m = await receive()
            if m['type'] == 'lifespan.startup':
                if os.environ.get('ASGI_FAIL_STARTUP'):
                    await send({'type': 'lifespan.startup.failed',
                                'message': 'the database is down'})
                    return
                note('startup')
                await send({'type': 'lifespan.startup.complete'})
            elif m['type'] == 'lifespan.shutdown':
                note('shutdown')
                await send({'type': 'lifespan.shutdown.complete'})
                return
    path = scope['path']
    start = {'type': 'http.response.start', 'status': 200,
             'headers': [(b'content-type', b'text/plain')]}
    if path == '/loop':
        await send(start)
        loop = asyncio.get_running_loop()
        await send({'type': 'http.response.body', 'body': type(loop).__module__.encode()})
    elif path == '/sleep':
        await asyncio.sleep(1)
        await send(start)
        await send({'type': 'http.response.body', 'body': b'slept'})
    elif path == '/scope':
        s = dict(scope)
        s.pop('state')
        await send(start)
        await send({'type': 'http.response.body', 'body': repr(sorted(s.items())).encode()})
    elif path == '/body':
        pieces = []
        while True:
            m = await receive()
            assert m['type'] == 'http.request', m
            pieces.append(m['body'])
            if not m['more_body']:
                break
        await send(start)
        await send({'type': 'http.response.body',
                    'body': b'messages=%d body=%s' % (len(pieces), b''.join(pieces))})
    elif path == '/stream':
        await send(start)
        for i in range(3):
            await send({'type': 'http.response.body', 'body': b'piece%d;' % i,
                        'more_body': True})
            await asyncio.sleep(0.3)
        await send({'type': 'http.response.body', 'body': b'end'})
    elif path == '/wait-disconnect':
        assert (await receive())['type'] == 'http.request'
        m = await receive()
        note(m['type'])
    elif path == '/big':
        await send(start)
        for i in range(256):
            await send({'type': 'http.response.body', 'body': b'x' * 262144,
                        'more_body': True})
        note('big-sent')
        await send({'type': 'http.response.body', 'body': b''})
    elif path == '/thread':
        import threading
        await send(start)
        await send({'type': 'http.response.body', 'body': ('%s threads=%d' % (
            threading.current_thread().name, threading.active_count())).encode()})
    elif path == '/block':
        import time
        time.sleep(30)  # blocks the loop (and so the serving thread it runs)
    elif path == '/raise':
        raise ValueError('the app broke before answering')
    elif path == '/raise-late':
        await send(start)
        await send({'type': 'http.response.body', 'body': b'partial', 'more_body': True})
        raise ValueError('the app broke while answering')
