# An app that starts threads while it is imported (a daemon poller and a short non-daemon
# thread), as metrics and scheduler libraries do: it must load in a sub-interpreter too.
import threading
import time


def _poll():
    while True:
        time.sleep(0.05)


threading.Thread(target=_poll, daemon=True).start()
threading.Thread(target=threading.Event().wait, args=(0.2,)).start()


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'threads ok %d' % threading.active_count()]
