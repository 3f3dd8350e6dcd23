# Apps of the interpreter tests: `first` and `second` report which interpreter serves them
# (id(sys.modules), this module's request counter) and what the kiln modules say there.
import json
import sys
import threading
import time

import kiln
import uwsgi
import uwsgidecorators

STATE = {'requests': 0, 'postfork': 0}
_lock = threading.Lock()


@uwsgidecorators.postfork
def _after_fork():
    STATE['postfork'] += 1


def _report(name, environ, start_response):
    if environ['PATH_INFO'] == '/sleep':
        time.sleep(0.3)
    with _lock:
        STATE['requests'] += 1
        count = STATE['requests']
    body = json.dumps({
        'app': name,
        'modules_id': id(sys.modules),
        'requests': count,
        'postfork': STATE['postfork'],
        'worker': uwsgi.worker_id(),
        'kiln_worker': kiln.worker_id(),
        'opt_mounts': len(uwsgi.opt.get('mount', [])),
        'opt_master': repr(uwsgi.opt.get('master')),
        'opt_pythonpath': repr(uwsgi.opt.get('pythonpath')),
        'script_name': environ['SCRIPT_NAME'],
        'path_info': environ['PATH_INFO'],
    }, sort_keys=True).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]


def first(environ, start_response):
    return _report('first', environ, start_response)


def second(environ, start_response):
    return _report('second', environ, start_response)
