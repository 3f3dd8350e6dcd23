# WSGI apps for the python plugin's fake-host tests: `application` dispatches on PATH_INFO to
# one small app per PEP 3333 rule under test. Responses are JSON where a test inspects values.
import gc
import io
import json
import os
import sys
import warnings
import wsgiref.validate

import kiln
import uwsgi
import uwsgidecorators

STATE = {'closed': [], 'postfork': 0}


@uwsgidecorators.postfork
def _after_fork():
    STATE['postfork'] += 1


def _json(start_response, value, status='200 OK'):
    body = json.dumps(value, sort_keys=True).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))])
    return [body]


def environ_types(environ, start_response):
    keys = {}
    for key, value in environ.items():
        keys[key] = type(value).__name__
    return _json(start_response, {
        'types': keys,
        'version': list(environ['wsgi.version']),
        'scheme': environ['wsgi.url_scheme'],
        'multithread': environ['wsgi.multithread'],
        'multiprocess': environ['wsgi.multiprocess'],
        'run_once': environ['wsgi.run_once'],
        'input_terminated': environ.get('wsgi.input_terminated'),
        'script_name': environ['SCRIPT_NAME'],
        'path_info': environ['PATH_INFO'],
        'query': environ['QUERY_STRING'],
    })


def latin1(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return [environ['HTTP_X_NAME'].encode('latin-1')]


def read_all(environ, start_response):
    inp = environ['wsgi.input']
    first = inp.read()
    second = inp.read()
    third = inp.read(10)
    return _json(start_response, {'first': first.decode('latin-1'), 'second': second.decode(),
                                  'third': third.decode()})


def read_sized(environ, start_response):
    inp = environ['wsgi.input']
    parts = []
    while True:
        piece = inp.read(5)
        if not piece:
            break
        parts.append(piece.decode())
    return _json(start_response, parts)


def lines(environ, start_response):
    inp = environ['wsgi.input']
    first = inp.readline()
    limited = inp.readline(2)
    rest = inp.readlines()
    return _json(start_response, [first.decode(), limited.decode()] + [x.decode() for x in rest])


def iterate(environ, start_response):
    return _json(start_response, [line.decode() for line in environ['wsgi.input']])


def exc_info_before_send(environ, start_response):
    start_response('200 OK', [('X-Dropped', 'yes')])
    try:
        raise ValueError('boom')
    except ValueError:
        start_response('503 Service Unavailable', [('Content-Type', 'text/plain')],
                       sys.exc_info())
    return [b'replaced']


def exc_info_after_send(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'partial')
    try:
        raise KeyError('late failure')
    except KeyError:
        start_response('500 Oops', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'never']


def twice(environ, start_response):
    start_response('200 OK', [])
    start_response('200 OK', [])
    return [b'x']


def write_then_iterable(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'one,')
    write(b'two,')
    return [b'three']


class Closing:
    def __init__(self, name, chunks, fail=False):
        self.name = name
        self.chunks = chunks
        self.fail = fail

    def __iter__(self):
        for chunk in self.chunks:
            yield chunk
        if self.fail:
            raise RuntimeError('failure inside the iterable')

    def close(self):
        STATE['closed'].append(self.name)


def closing(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Closing('closing-ok', [b'closing-ok'])


def closing_fails(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Closing('closing-fail', [b''], fail=True)


def closed_log(environ, start_response):
    return _json(start_response, STATE['closed'])


def file_wrapper(environ, start_response):
    path = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(os.path.getsize(path)))])
    return environ['wsgi.file_wrapper'](open(path, 'rb'))


def file_wrapper_bytesio(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return environ['wsgi.file_wrapper'](io.BytesIO(b'from-bytesio'), 4)


def bad_status(environ, start_response):
    start_response('OK', [('Content-Type', 'text/plain')])
    return [b'x']


def str_body(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ['not bytes']


def crlf_header(environ, start_response):
    start_response('200 OK', [('X-Evil', 'a\r\nSet-Cookie: injected=1')])
    return [b'x']


def raises(environ, start_response):
    raise ZeroDivisionError('app exploded')


def no_start_response(environ, start_response):
    return [b'forgot']


def fail_mid_body(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])

    def gen():
        yield b'first'
        raise RuntimeError('mid-body failure')
    return gen()


def empty_body(environ, start_response):
    start_response('204 No Content', [])
    return []


def modules(environ, start_response):
    return _json(start_response, {
        'worker_id': uwsgi.worker_id(),
        'kiln_worker_id': kiln.worker_id(),
        'numproc': uwsgi.numproc,
        'opt_custom': repr(uwsgi.opt.get('my-custom')),
        'opt_repeated': repr(uwsgi.opt.get('pythonpath-extra')),
        'opt_master': repr(uwsgi.opt.get('master')),
        'opt_text_true': repr(uwsgi.opt.get('my-text-true')),
        'postfork': STATE['postfork'],
    })


def sleep(environ, start_response):
    import time
    time.sleep(0.5)
    return _json(start_response, {'worker': uwsgi.worker_id(), 'pid': os.getpid()})


def sys_info(environ, start_response):
    return _json(start_response, {'prefix': sys.prefix, 'base_prefix': sys.base_prefix,
                                  'path': sys.path})


def errors_stream(environ, start_response):
    print('line from wsgi.errors', file=environ['wsgi.errors'])
    environ['wsgi.errors'].flush()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'logged']


def write_after_disconnect(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    try:
        write(b'lost')
    except OSError as e:
        STATE['closed'].append('write failed: %s' % e)
        raise
    return [b'']


# Apps run under wsgiref.validate.validator, with warnings turned into errors.
def _validated(app):
    checked = wsgiref.validate.validator(app)

    def run(environ, start_response):
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            result = checked(environ, start_response)
            return list(_drain(result))
    return run


def _drain(result):
    try:
        for chunk in result:
            yield chunk
    finally:
        result.close()


def _v_hello(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'validated hello']


def _v_echo(environ, start_response):
    size = int(environ.get('CONTENT_LENGTH') or 0)
    body = environ['wsgi.input'].read(size)
    line_src = environ['wsgi.errors']
    line_src.write('validated echo\n')
    line_src.flush()
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str(len(body)))])
    return [body]


def _v_lines(environ, start_response):
    inp = environ['wsgi.input']
    got = [inp.readline(), inp.readline(5)] + inp.readlines()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'|'.join(got)]


def _v_write(environ, start_response):
    write = start_response('201 Created', [('Content-Type', 'text/plain')])
    write(b'written ')
    return [b'and returned']


def _v_file(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return environ['wsgi.file_wrapper'](io.BytesIO(b'wrapped'))


def _v_empty(environ, start_response):
    start_response('304 Not Modified', [])
    return []


def environ_keys(environ, start_response):
    # Every key, one per line; then the app adds one, which no later request may see.
    body = '\n'.join(sorted(environ)).encode()
    environ['app.added'] = True
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]


def echo_vars(environ, start_response):
    names = ('REQUEST_METHOD', 'HTTP_HOST', 'HTTP_USER_AGENT', 'SERVER_PORT', 'HTTP_X_CUSTOM')
    return _json(start_response, {k: environ.get(k) for k in names})


def environ_items(environ, start_response):
    # The str entries in the environ's own order (json.dumps keeps a list's order).
    items = [[k, v] for k, v in environ.items() if isinstance(v, str)]
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(items).encode()]


def other_environs(environ, start_response):
    # What every other live dict holding the name in X-Watch maps it to, beside its
    # HTTP_USER_AGENT: the environs kiln keeps between requests, whatever their form.
    name = environ['HTTP_X_WATCH']
    found = [[d.get(name), d.get('HTTP_USER_AGENT')] for d in gc.get_objects()
             if type(d) is dict and d is not environ and name in d]
    return _json(start_response, found)


def headers_changed_later(environ, start_response):
    headers = [('Content-Type', 'text/plain'), ('X-Kept', 'yes')]
    start_response('200 OK', headers)
    headers.append(('X-Late', 'appended after start_response'))
    headers[1] = ('X-Kept', 'replaced after start_response')
    return [b'ok']


def keyword_start_response(environ, start_response):
    write = start_response(headers=[('Content-Type', 'text/plain')], status='201 Created')
    write(b'kw,')
    return [b'done']


def bad_start_response_call(environ, start_response):
    errors = []
    for args, kwargs in ((('200 OK',), {}), (('200 OK', [], None, 1), {}),
                         (('200 OK', []), {'colour': 1}), (('200 OK', []), {'status': '200 OK'})):
        try:
            start_response(*args, **kwargs)
        except TypeError as e:
            errors.append(str(e))
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(errors).encode()]


KEPT = {}


def keep_start_response(environ, start_response):
    KEPT['start_response'] = start_response
    KEPT['write'] = start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'kept']


def call_kept_start_response(environ, start_response):
    results = []
    for name, call in (('start_response', lambda: KEPT['start_response']('200 OK', [])),
                       ('write', lambda: KEPT['write'](b'late'))):
        try:
            call()
            results.append(name + ': no error')
        except RuntimeError as e:
            results.append(name + ': ' + str(e))
    results.append('same object: %s' % (KEPT['start_response'] is start_response))
    return _json(start_response, results)


ROUTES = {
    '/environ': environ_types,
    '/environ_keys': environ_keys,
    '/latin1': latin1,
    '/read_all': read_all,
    '/read_sized': read_sized,
    '/lines': lines,
    '/iterate': iterate,
    '/exc_info_before_send': exc_info_before_send,
    '/exc_info_after_send': exc_info_after_send,
    '/twice': twice,
    '/write_then_iterable': write_then_iterable,
    '/closing': closing,
    '/closing_fails': closing_fails,
    '/closed_log': closed_log,
    '/file_wrapper': file_wrapper,
    '/file_wrapper_bytesio': file_wrapper_bytesio,
    '/bad_status': bad_status,
    '/str_body': str_body,
    '/crlf_header': crlf_header,
    '/raises': raises,
    '/no_start_response': no_start_response,
    '/fail_mid_body': fail_mid_body,
    '/empty_body': empty_body,
    '/modules': modules,
    '/errors_stream': errors_stream,
    '/sleep': sleep,
    '/sys': sys_info,
    '/write_after_disconnect': write_after_disconnect,
    '/echo_vars': echo_vars,
    '/environ_items': environ_items,
    '/other_environs': other_environs,
    '/headers_changed_later': headers_changed_later,
    '/keyword_start_response': keyword_start_response,
    '/bad_start_response_call': bad_start_response_call,
    '/keep_start_response': keep_start_response,
    '/call_kept_start_response': call_kept_start_response,
    '/v/hello': _validated(_v_hello),
    '/v/echo': _validated(_v_echo),
    '/v/lines': _validated(_v_lines),
    '/v/write': _validated(_v_write),
    '/v/file': _validated(_v_file),
    '/v/empty': _validated(_v_empty),
}


def application(environ, start_response):
    app = ROUTES.get(environ['PATH_INFO'])
    if app is None:
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'no such case']
    return app(environ, start_response)


def other(environ, start_response):
    return _json(start_response, {'app': 'other', 'script_name': environ['SCRIPT_NAME'],
                                  'path_info': environ['PATH_INFO']})


def make_app():
    def factory_app(environ, start_response):
        return _json(start_response, {'app': 'factory', 'script_name': environ['SCRIPT_NAME'],
                                      'path_info': environ['PATH_INFO']})
    return factory_app
