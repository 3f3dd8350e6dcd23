# Reports what a worker's garbage collector does to the memory it shares with the master:
# GET /collect runs a full collection first. Imports Flask for a heap worth sharing.
import gc
import json
import os

import flask

_keep = flask


def _private_dirty_kib():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    return -1


def application(environ, start_response):
    if environ["PATH_INFO"] == "/collect":
        gc.collect()
    body = json.dumps({"frozen": gc.get_freeze_count(), "pid": os.getpid(),
                       "private_dirty_kib": _private_dirty_kib()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
