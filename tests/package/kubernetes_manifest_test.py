#!/usr/bin/python3
"""conf/kubernetes/kiln.yaml parses, and its numbers agree with the ini in its ConfigMap.

What a wrong number costs a user: a grace period shorter than drain-delay plus
worker-reload-mercy lets the kubelet SIGKILL requests in flight; a drain-delay shorter than the
readiness probe's reaction time lets kiln stop accepting while a balancer still sends to it;
probes or Prometheus aimed at another port than `stats` see nothing; an option kiln does not
know, does not support or has not implemented is a setting the user believes in and kiln
ignores, so the ini is also run through the real binary (`--strict --print-config`).

Usage: kubernetes_manifest_test.py [path/to/kiln.yaml [path/to/kiln]]
       (exit 0 when every check holds; the binary defaults to $KILN_BIN, else build/core/kiln)
"""
import configparser
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml  # Debian's python3-yaml (./dev deps installs it)

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "..", "..", "conf", "kubernetes", "kiln.yaml")
KILN = os.environ.get("KILN_BIN", os.path.join(HERE, "..", "..", "build", "core", "kiln"))
# What kiln says on stderr about an option it will not act on (docs/configuration.md).
IGNORED = ("not an option", "not supported", "not implemented", "has no effect")
# Time the master needs after the last worker is gone: reaping, removing sockets, exiting.
EXIT_MARGIN_S = 5


def seconds(value):
    """A kiln duration (docs/configuration.md): bare seconds or a number with ms, s, m, h."""
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)?\s*", value)
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return int(m.group(1)) * scale


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def kiln_reads(ini_text):
    """Runs `kiln --ini FILE --strict --print-config` on `ini_text`: (exit code, stdout, stderr).

    strict turns an unknown or unsupported key into an error; options that are accepted but
    not implemented (or that do nothing in kiln) are only notices, so stderr is read too."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.ini")
        with open(path, "w") as f:
            f.write(ini_text)
        p = subprocess.run([KILN, "--ini", path, "--strict", "--print-config"],
                           capture_output=True, text=True, timeout=30, check=False)
    return p.returncode, p.stdout, p.stderr


class KubernetesManifest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(MANIFEST) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        cls.by_kind = {d["kind"]: d for d in docs}
        cls.ini_text = cls.by_kind["ConfigMap"]["data"]["app.ini"]
        parser = configparser.ConfigParser(inline_comment_prefixes=None, interpolation=None)
        parser.read_string(cls.ini_text)
        cls.ini = parser["kiln"]
        cls.deploy = cls.by_kind["Deployment"]
        cls.pod = cls.deploy["spec"]["template"]
        cls.container = cls.pod["spec"]["containers"][0]
        cls.ports = {p["name"]: p["containerPort"] for p in cls.container["ports"]}

    def test_has_configmap_deployment_and_service(self):
        self.assertEqual(set(self.by_kind), {"ConfigMap", "Deployment", "Service"})

    def test_container_reads_the_configmaps_ini(self):
        args = self.container["args"]
        ini_path = args[args.index("--ini") + 1]
        mount = next(m for m in self.container["volumeMounts"]
                     if ini_path.startswith(m["mountPath"] + "/"))
        volume = next(v for v in self.pod["spec"]["volumes"] if v["name"] == mount["name"])
        self.assertEqual(volume["configMap"]["name"], self.by_kind["ConfigMap"]["metadata"]["name"])
        self.assertEqual(os.path.basename(ini_path), "app.ini")

    def test_kiln_acts_on_every_option_of_the_ini(self):
        code, out, err = kiln_reads(self.ini_text)
        self.assertEqual(code, 0, f"kiln refused the ConfigMap's ini:\n{err}")
        for phrase in IGNORED:
            self.assertNotIn(phrase, err)
        # Every key came through, resolved (the binary read this ini, not another).
        printed = {line.split("=", 1)[0].strip() for line in out.splitlines() if "=" in line}
        for key in self.ini:
            self.assertIn(key, printed, f"`{key}` missing from --print-config:\n{out}")

    def test_the_binary_check_catches_what_it_must(self):
        # The check above is only worth something if it fails on a bad ini: an unknown key, a
        # uWSGI option kiln does not support, one accepted but not implemented.
        for bad in ("harakiri-typo = 5", "fastrouter = 127.0.0.1:3017", "static-index = i.html"):
            code, _, err = kiln_reads(self.ini_text + bad + "\n")
            self.assertTrue(code != 0 or any(p in err for p in IGNORED),
                            f"`{bad}` went unnoticed:\n{err}")

    def test_ports_match_the_ini(self):
        self.assertEqual(self.ports["http"], port_of(self.ini["http-socket"]))
        self.assertEqual(self.ports["stats"], port_of(self.ini["stats"]))
        self.assertEqual(self.ini["stats-http"], "true")

    def test_probes_ask_the_stats_address(self):
        ready = self.container["readinessProbe"]["httpGet"]
        live = self.container["livenessProbe"]["httpGet"]
        self.assertEqual((ready["path"], ready["port"]), ("/ready", "stats"))
        self.assertEqual((live["path"], live["port"]), ("/live", "stats"))

    def test_grace_period_covers_drain_delay_and_mercy(self):
        drain = seconds(self.ini["drain-delay"])
        mercy = seconds(self.ini["worker-reload-mercy"])
        grace = self.pod["spec"]["terminationGracePeriodSeconds"]
        self.assertGreater(drain, 0, "drain-delay must be set on Kubernetes")
        self.assertGreaterEqual(grace, drain + mercy + EXIT_MARGIN_S,
                                f"grace {grace}s < drain-delay {drain}s + "
                                f"worker-reload-mercy {mercy}s + {EXIT_MARGIN_S}s")

    def test_drain_delay_outlasts_the_readiness_probe(self):
        # A balancer that learns of the stop only from /ready needs failureThreshold probes,
        # periodSeconds apart (plus one timeout), before it stops sending.
        probe = self.container["readinessProbe"]
        react = probe["periodSeconds"] * probe["failureThreshold"] + probe["timeoutSeconds"]
        self.assertGreater(seconds(self.ini["drain-delay"]), react)

    def test_no_prestop_hook_since_drain_delay_does_its_job(self):
        self.assertNotIn("preStop", self.container.get("lifecycle", {}))

    def test_prometheus_scrapes_each_pods_metrics(self):
        notes = self.pod["metadata"]["annotations"]
        self.assertEqual(notes["prometheus.io/scrape"], "true")
        self.assertEqual(int(notes["prometheus.io/port"]), self.ports["stats"])
        self.assertEqual(notes["prometheus.io/path"], "/metrics")

    def test_service_selects_the_pods_and_targets_http(self):
        svc = self.by_kind["Service"]["spec"]
        labels = self.pod["metadata"]["labels"]
        for k, v in svc["selector"].items():
            self.assertEqual(labels.get(k), v)
        self.assertEqual(svc["ports"][0]["targetPort"], "http")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        MANIFEST = sys.argv.pop(1)
    if len(sys.argv) > 1:
        KILN = sys.argv.pop(1)
    unittest.main(verbosity=2)
