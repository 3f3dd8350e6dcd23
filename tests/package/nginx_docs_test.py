#!/usr/bin/python3
"""docs/operations.md, "Behind nginx", gives the numbers of conf/nginx/kiln-upstream.conf.

A user tunes nginx from that page: a number there that the shipped file does not have (a
fail_timeout of 10s where the file says 2s) sends them off with settings no test ever ran.
Every retry, timeout and keep-alive setting in the file must be named in the section with its
value, and every such setting the section names with a value must be the file's.

Usage: nginx_docs_test.py [path/to/source/tree]   (exit 0 when every check holds)
"""
import os
import re
import sys
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
# The settings whose numbers the section explains (nginx directive or server parameter).
SETTINGS = ("max_fails", "fail_timeout", "keepalive", "keepalive_timeout",
            "uwsgi_next_upstream", "proxy_next_upstream", "uwsgi_next_upstream_tries",
            "proxy_next_upstream_tries", "uwsgi_connect_timeout", "proxy_connect_timeout",
            "uwsgi_read_timeout", "proxy_read_timeout")


def conf_settings(text):
    """{(name, value)} of SETTINGS in an nginx file: `name value;` and `name=value` parameters."""
    found = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"(\w+)\s+([^;]+);", line)
        if m and m.group(1) in SETTINGS:
            found.add((m.group(1), m.group(2).strip()))
        for name, value in re.findall(r"\b(\w+)=(\S+?)[;\s]", line + " "):
            if name in SETTINGS:
                found.add((name, value))
    return found


def doc_settings(section):
    """{(name, value)} the section writes in backticks: `name value` or `name=value`."""
    found = set()
    for code in re.findall(r"`([^`]+)`", section):
        m = re.fullmatch(r"(\w+)(?:\s+|=)(.+)", code.strip())
        if m and m.group(1) in SETTINGS:
            found.add((m.group(1), m.group(2).strip()))
    return found


class NginxDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "conf", "nginx", "kiln-upstream.conf")) as f:
            cls.conf = conf_settings(f.read())
        with open(os.path.join(ROOT, "docs", "operations.md")) as f:
            doc = f.read()
        m = re.search(r"^### Behind nginx\n(.*?)^#", doc, re.S | re.M)
        assert m, 'docs/operations.md has no "### Behind nginx" section'
        cls.doc = doc_settings(m.group(1))

    def test_the_file_has_the_settings(self):
        names = {n for n, _ in self.conf}
        for name in ("max_fails", "fail_timeout", "keepalive", "keepalive_timeout",
                     "proxy_next_upstream", "uwsgi_next_upstream"):
            self.assertIn(name, names)

    def test_every_setting_of_the_file_is_in_the_docs(self):
        self.assertEqual(sorted(self.conf - self.doc), [],
                         "settings of conf/nginx/kiln-upstream.conf the docs do not give")

    def test_every_number_in_the_docs_is_the_files(self):
        self.assertEqual(sorted(self.doc - self.conf), [],
                         "settings the docs give that conf/nginx/kiln-upstream.conf does not have")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        ROOT = sys.argv.pop(1)
    unittest.main(verbosity=2)
