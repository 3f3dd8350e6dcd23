# The smallest WSGI app: `kiln --http-socket 127.0.0.1:8080 --wsgi-file examples/hello/hello.py`.


def application(environ, start_response):
    body = b'Hello, World!\n'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
