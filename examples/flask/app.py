# The bundled example service: a small Flask app served by kiln's python plugin
# (`module = app:app`). Its routes are what the deployment tests check through nginx.
import os

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get('/')
def index():
    return 'kiln example service\n', 200, {'Content-Type': 'text/plain; charset=utf-8'}


@app.get('/api/v1/health')
def health():
    return jsonify(status='ok', pid=os.getpid())


@app.post('/api/v1/echo')
def echo():
    """Echoes a JSON body back with its size, so large bodies can be checked end to end."""
    data = request.get_json(force=True, silent=False)
    return jsonify(received=data, bytes=request.content_length)


@app.get('/api/v1/env/<name>')
def env(name):
    """Reads an environment variable (set by `env =` or for-readline in the ini file)."""
    value = os.environ.get(name)
    if value is None:
        return jsonify(error='not set', name=name), 404
    return jsonify(name=name, value=value)


@app.get('/api/v1/query')
def query():
    return jsonify(args=request.args.to_dict(flat=False), raw=request.query_string.decode())


@app.get('/api/v1/hello/<name>')
def hello(name):
    """Unicode in the path: /api/v1/hello/J%C3%BCrgen answers "Hallo, Jürgen"."""
    return jsonify(greeting='Hallo, %s' % name, length=len(name))


@app.get('/api/v1/worker')
def worker():
    try:
        import uwsgi
        worker_id = uwsgi.worker_id()
    except ImportError:  # run outside kiln (flask run)
        worker_id = 0
    return jsonify(worker=worker_id, pid=os.getpid())


@app.get('/api/v1/fail')
def fail():
    raise RuntimeError('this endpoint fails on purpose')


if __name__ == '__main__':
    app.run(host='127.0.0.1', port=8080)
