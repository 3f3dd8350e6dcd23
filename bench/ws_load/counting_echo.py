# The echo server of CTest ws_load_counts_echoes: a raw ASGI WebSocket echo at /ws that, when
# a connection ends, appends how many messages it echoed to $WS_ECHO_COUNTS, so the check can
# compare ws_load's count with the server's. The handshake is refused on any other path.
import os


async def app(scope, receive, send):
    if scope['type'] == 'http':
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'ok'})
        return
    if scope['type'] != 'websocket':
        return
    await receive()  # websocket.connect
    if scope['path'] != '/ws':
        await send({'type': 'websocket.close', 'code': 1008})
        return
    await send({'type': 'websocket.accept'})
    echoed = 0
    try:
        while True:
            m = await receive()
            if m['type'] == 'websocket.disconnect':
                break
            await send({'type': 'websocket.send', 'text': m.get('text'),
                        'bytes': m.get('bytes')})
            echoed += 1
    finally:  # also when a send finds the connection gone
        with open(os.environ['WS_ECHO_COUNTS'], 'a') as f:
            f.write('%d\n' % echoed)
