"""End-to-end harness: starts the real release binary and, for the proxy
tests, a real nginx in front of it. Everything listens on 127.0.0.1 only.

The binary is `.build/release/ranksmith` (what `make test` builds), or the
file named by the environment variable RANKSMITH_BIN.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("RANKSMITH_BIN", ROOT / ".build" / "release" / "ranksmith"))
MODEL = ROOT / "models" / "all-MiniLM-L6-v2"
GENERATOR = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
LISTENING = re.compile(r"listening on (\S+):(\d+)")

# Seconds the model may take to load before /ready answers 200.
START_TIMEOUT = 90


# Skips that `make test` (and so CI) turns into failures: a missing tool or
# file must not pass silently. Every other skip states its reason.
STRICT_SKIPS = os.environ.get("RANKSMITH_STRICT_SKIPS") == "1"
MISSING = re.compile(r"\b(not installed|not found|missing)\b", re.IGNORECASE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT_SKIPS and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if MISSING.search(reason):
            report.outcome = "failed"
            report.longrepr = f"skip refused under `make test`: {reason} (scripts/install-test-deps installs the tools)"


def pytest_configure(config):
    if not BIN.exists():
        raise pytest.UsageError(f"{BIN} not found: run `make test` (or set RANKSMITH_BIN)")
    if not MODEL.exists() or not GENERATOR.exists():
        raise pytest.UsageError("models missing: run `make models`")


# MARK: - A running server


# The states a job ends in.
JOB_FINISHED = {"succeeded", "failed", "cancelled"}


class Server:
    """One `ranksmith serve` process on 127.0.0.1 with a port the kernel picks.

    stderr (the start line and the JSON access log) goes to a file so a
    chatty server can never block on a full pipe.
    """

    def __init__(self, workdir: Path, *extra: str, env: dict | None = None, name: str = "server", preexec=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / f"{name}.stderr"
        args = [str(BIN), "serve", "--model", str(MODEL), "--generator", str(GENERATOR),
                "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", "0", *extra]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._log, cwd=self.workdir,
                                     env={**clean_env(), **(env or {})}, preexec_fn=preexec)
        self.port = self._wait_for_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_ready()

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = LISTENING.search(self.log_path.read_text(errors="replace"))
            if m:
                return int(m.group(2))
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.stderr()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not print its port within {START_TIMEOUT}s: {self.stderr()}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"/ready did not answer 200 within {START_TIMEOUT}s: {self.stderr()}")

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_log(self) -> list[dict]:
        """The JSON access-log lines written so far."""
        out = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    # Jobs

    def submit_job(self, kind: str, expect: int = 202, **body) -> dict:
        """POST /jobs/{kind} with `body`; asserts the status and answers the record."""
        r = requests.post(f"{self.url}/jobs/{kind}", json=body, timeout=30)
        assert r.status_code == expect, r.text
        return r.json()

    def wait_for_job(self, job_id: str, states: set[str] = JOB_FINISHED, timeout: float = 240) -> dict:
        """Polls GET /jobs/{id} until its state is one of `states`."""
        deadline = time.monotonic() + timeout
        job = None
        while time.monotonic() < deadline:
            job = requests.get(f"{self.url}/jobs/{job_id}", timeout=10).json()
            if job["state"] in states:
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not in {sorted(states)} after {timeout}s: {job}")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the drained exit; answers the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def clean_env() -> dict:
    """The environment without RANKSMITH_* settings of the caller's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RANKSMITH_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server the contract tests talk to directly."""
    s = Server(tmp_path_factory.mktemp("server"), "--threads", "2")
    yield s
    s.terminate()


OPERATION_METHODS = ("get", "put", "post", "delete", "patch")


def spec_operations(openapi: dict) -> list[tuple[str, str]]:
    """(method, path) of every operation in openapi.yaml."""
    return [(m, p) for p, item in openapi["paths"].items() for m in item if m in OPERATION_METHODS]


@pytest.fixture(scope="session")
def implemented(server, openapi) -> set[tuple[str, str]]:
    """The spec's operations the running server has routes for.

    openapi.yaml may describe endpoints before the server has them. The
    router answers a method it does not route on a known path with 405 and
    `Allow`, and an unknown path with its own 404 ("No endpoint at …"), so
    probing each path with TRACE tells, without side effects, which
    operations are live. The contract tests cover those; the rest are
    reported as skipped until they land."""
    live = set()
    for path in openapi["paths"]:
        url = server.url + re.sub(r"\{[^}]+\}", "e2e-probe", path)
        r = requests.request("TRACE", url, timeout=10)
        if r.status_code == 405:
            allowed = {a.strip().lower() for a in r.headers.get("Allow", "").split(",")}
            live |= {(m, path) for m in allowed if m in OPERATION_METHODS}
        elif r.status_code != 404:
            raise AssertionError(f"TRACE {path}: expected 404 or 405, got {r.status_code}")
    return {op for op in spec_operations(openapi) if op in live}


# MARK: - nginx in front


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
NGINX_CONF = ROOT / "deploy" / "nginx" / "ranksmith.conf"


def render_nginx_conf(listen_port: int, upstream_ports: list[int], prefix: Path) -> str:
    """deploy/nginx/ranksmith.conf with the test's ports put in: the
    `server` lines of the upstream block become one per upstream port and the
    `listen` line binds 127.0.0.1 only. Wrapped in the few main-context lines
    nginx needs to run unprivileged from a temporary prefix."""
    conf = NGINX_CONF.read_text()
    upstream = re.search(r"upstream\s+ranksmith\s*\{(.*?)\}", conf, re.S)
    assert upstream, "ranksmith.conf has no `upstream ranksmith { ... }` block"
    body = upstream.group(1)
    servers = [f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in upstream_ports]
    body = re.sub(r"^\s*server\s+[^;]+;\s*$\n?", "", body, flags=re.M)
    conf = conf[:upstream.start(1)] + "\n" + "\n".join(servers) + body + conf[upstream.end(1):]
    conf, n = re.subn(r"^(\s*)listen\s+[^;]+;", rf"\1listen 127.0.0.1:{listen_port};", conf, flags=re.M)
    assert n >= 1, "ranksmith.conf has no listen line"
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{\n  access_log {prefix}/access.log;\n"
            f"  client_body_temp_path {prefix}/client_body;\n  proxy_temp_path {prefix}/proxy;\n"
            f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
            f"{conf}\n}}\n")


class Nginx:
    """nginx from the distribution, run as the current user from a temporary prefix."""

    def __init__(self, prefix: Path, upstream_ports: list[int]):
        if NGINX is None:
            pytest.fail("nginx not installed: run scripts/install-test-deps")
        self.prefix = Path(prefix)
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(render_nginx_conf(self.port, upstream_ports, self.prefix))
        # -e: the start-up error log too, so an unprivileged nginx never
        # touches /var/log/nginx.
        base = [NGINX, "-e", str(self.prefix / "error.log"), "-p", str(self.prefix), "-c", str(self.conf)]
        subprocess.run([*base, "-t", "-q"], check=True, capture_output=True)
        self.proc = subprocess.Popen([*base, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start: " + (self.prefix / "error.log").read_text(errors="replace"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def load_yaml_docs(path: Path) -> list[dict]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


@pytest.fixture(scope="session")
def openapi() -> dict:
    with open(ROOT / "openapi.yaml") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="session")
def serve_flags() -> dict[str, str | None]:
    """`ranksmith serve`'s long flags and their defaults, read from --help."""
    out = subprocess.run([str(BIN), "serve", "--help"], capture_output=True, text=True, timeout=30,
                         env={**clean_env(), "COLUMNS": "400"}).stdout
    flags: dict[str, str | None] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(?:-\w, )?(--[a-z0-9-]+)", line)
        if not m or m.group(1) in ("--help", "--version"):
            continue
        d = re.search(r"\(default: ([^)]*)\)", line)
        flags[m.group(1)] = d.group(1) if d else None
    return flags


def resident_bytes(pid: int) -> int:
    """Resident set size of process `pid`, in bytes (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
