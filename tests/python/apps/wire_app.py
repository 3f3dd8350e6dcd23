# The WSGI app of tests/python/wire_test.cc: response framing with wsgi.file_wrapper, a body
# read that fails, and endpoints that kill their worker.
import ctypes
import os
import tempfile
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ['PATH_INFO']
    query = {k: v[0] for k, v in parse_qs(environ['QUERY_STRING']).items()}
    if path == '/file':
        # A file of `size` bytes behind a declared Content-Length of `declared` (a file that
        # grew or shrank between the app's stat and the send).
        f = tempfile.TemporaryFile()
        f.write(b'F' * int(query['size']))
        f.seek(0)
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', query['declared'])])
        return environ['wsgi.file_wrapper'](f)
    if path == '/read':
        body = environ['wsgi.input'].read()  # raises on a malformed chunked body
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'read %d bytes' % len(body)]
    if path == '/exit':
        os._exit(1)
    if path == '/segv':
        ctypes.string_at(0)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello ' + path.encode()]
