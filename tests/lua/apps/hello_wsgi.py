# The Python half of the side-by-side test: a WSGI app that says which language answered.
def application(environ, start_response):
    body = ("python " + environ.get("SCRIPT_NAME", "") + "|" + environ.get("PATH_INFO", ""))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode("latin-1")]
