# A WSGI file loaded with `wsgi-file` and a custom `callable`.
def handler(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'from a wsgi file']
