# The mounted Python app (`mount = /py=...`) of the routing test: says it is the mounted one.
def application(environ, start_response):
    body = ("pymount " + environ.get("SCRIPT_NAME", "") + "|" + environ.get("PATH_INFO", ""))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode("latin-1")]
