# WSGI app of the macro benchmark's body rows: POST /post reads the whole body and answers its
# size; GET /file sends the file named by $KILN_BENCH_FILE through wsgi.file_wrapper; anything
# else answers "Hello, World!". Served identically by kiln, uWSGI and Gunicorn.
import os

FILE = os.environ.get('KILN_BENCH_FILE', '')


def application(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    if path == '/post':
        left = int(environ.get('CONTENT_LENGTH') or 0)
        stream = environ['wsgi.input']
        total = 0
        while left > 0:
            chunk = stream.read(min(left, 65536))
            if not chunk:
                break
            total += len(chunk)
            left -= len(chunk)
        body = b'%d\n' % total
    elif path == '/file':
        f = open(FILE, 'rb')
        size = os.fstat(f.fileno()).st_size
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(size))])
        wrapper = environ.get('wsgi.file_wrapper')
        if wrapper is not None:
            return wrapper(f, 65536)
        return iter(lambda: f.read(65536), b'')
    else:
        body = b'Hello, World!\n'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
