"""The deployment files agree with the server and with each other: every
Kubernetes manifest parses, probes point at real endpoints, ports and names
match; the Dockerfile's build steps are the Makefile's commands and its
health check works against a live server; every RANKSMITH_* setting is a
real flag; docs/operations.md lists every flag."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, load_yaml_docs

K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for d in load_yaml_docs(path):
            d["_file"] = path.name
            docs.append(d)
    return docs


def by_kind(manifests, kind):
    return [m for m in manifests if m.get("kind") == kind]


def env_to_flag(name: str) -> str:
    return "--" + name[len("RANKSMITH_"):].lower().replace("_", "-")


# MARK: - Kubernetes


def test_every_manifest_parses_and_is_listed(manifests):
    resources = {m["_file"] for m in manifests if m["kind"] != "Kustomization"}
    [kustomization] = by_kind(manifests, "Kustomization")
    assert set(kustomization["resources"]) == resources
    for m in manifests:
        assert m.get("apiVersion") and m.get("kind"), m["_file"]
        if m["kind"] != "Kustomization":
            assert m["metadata"]["name"], m["_file"]
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "Service", "PersistentVolumeClaim", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "Secret", "ConfigMap"} <= kinds


def containers(manifests):
    for d in by_kind(manifests, "Deployment"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            yield d, c


def test_probes_point_at_real_endpoints_and_ports(manifests, openapi):
    for d, c in containers(manifests):
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            assert get["path"] in openapi["paths"] and "get" in openapi["paths"][get["path"]], (d["_file"], probe)
            assert get["port"] in ports or get["port"] in ports.values(), (d["_file"], probe)
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"


def config(manifests) -> dict:
    [cm] = by_kind(manifests, "ConfigMap")
    return cm["data"]


def test_configmap_settings_are_real_flags(manifests, serve_flags):
    for name in config(manifests):
        assert name.startswith("RANKSMITH_") and env_to_flag(name) in serve_flags, name


def test_ports_match(manifests):
    port = int(config(manifests)["RANKSMITH_PORT"])
    assert config(manifests)["RANKSMITH_HOST"] == "0.0.0.0"
    for d, c in containers(manifests):
        assert [p["containerPort"] for p in c["ports"]] == [port], d["_file"]
    deployments = by_kind(manifests, "Deployment")
    for svc in by_kind(manifests, "Service"):
        selected = [d for d in deployments
                    if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, f"Service {svc['metadata']['name']} selects {len(selected)} deployments"
        names = {p["name"] for c in selected[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in names or p["targetPort"] == port


def test_deployments_drain_within_the_grace_period(manifests):
    drain = float(config(manifests)["RANKSMITH_DRAIN_TIMEOUT"])
    for d, c in containers(manifests):
        spec = d["spec"]["template"]["spec"]
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        sleep = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
        assert spec["terminationGracePeriodSeconds"] > sleep + drain, d["_file"]
        # A Service named `ranksmith` would inject RANKSMITH_PORT=tcp://...
        assert spec.get("enableServiceLinks") is False, d["_file"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]


def test_data_dir_volumes_secrets_and_selectors(manifests):
    data_dir = config(manifests)["RANKSMITH_DATA_DIR"]
    secrets = {s["metadata"]["name"]: set(s.get("stringData", s.get("data", {}))) for s in by_kind(manifests, "Secret")}
    claims = {p["metadata"]["name"] for p in by_kind(manifests, "PersistentVolumeClaim")}
    for d, c in containers(manifests):
        spec = d["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert data_dir in mounts, d["_file"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert mounts[data_dir] in volumes
        claim = volumes[mounts[data_dir]].get("persistentVolumeClaim")
        if claim:
            assert claim["claimName"] in claims
            assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"]["type"] == "Recreate", \
                "a ReadWriteOnce data dir has a single writer"
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]], e["name"]
        assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
    names = {d["metadata"]["name"]: d for d in by_kind(manifests, "Deployment")}
    for hpa in by_kind(manifests, "HorizontalPodAutoscaler"):
        target = names[hpa["spec"]["scaleTargetRef"]["name"]]
        assert target["spec"]["strategy"]["type"] != "Recreate", "only stateless replicas autoscale"
    for pdb in by_kind(manifests, "PodDisruptionBudget"):
        sel = pdb["spec"]["selector"]["matchLabels"].items()
        assert any(sel <= d["spec"]["template"]["metadata"]["labels"].items() for d in names.values())


def test_kubectl_kustomize_builds_the_set():
    """`kubectl kustomize` builds the set offline. (`create --dry-run=client`
    needs an API server for discovery, which a test machine does not have;
    the checks above parse every manifest instead.)"""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not installed: scripts/install-test-deps installs Debian's kubernetes-client")
    p = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    built = [d for d in yaml.safe_load_all(p.stdout) if d]
    assert len(built) == len([f for f in K8S.glob("*.yaml") if f.name != "kustomization.yaml"]) + 1  # two Services in one file
    assert {d["kind"] for d in built} >= {"Deployment", "Service"}


# MARK: - Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stage_instructions(stage: int) -> list[tuple[str, str]]:
    stages, current = [], None
    for ins in dockerfile_instructions():
        if ins[0] == "FROM":
            current = []
            stages.append(current)
        elif current is not None:
            current.append(ins)
    return stages[stage]


def make_commands(target: str) -> list[str]:
    # Under `make test` this runs inside make: drop the parent's make
    # variables and the "Entering directory" lines a sub-make prints.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}
    out = subprocess.run(["make", "--no-print-directory", "-n", "-B", target], cwd=ROOT, capture_output=True,
                         text=True, timeout=30, env=env).stdout
    return [l.strip() for l in out.splitlines() if l.strip() and not l.startswith("make[")]


def test_build_stage_runs_the_makefile_commands():
    runs = [r for w, r in stage_instructions(0) if w == "RUN"]
    flat = " && ".join(runs)
    for target in ("deps", "models"):
        for cmd in make_commands(target):
            assert cmd in runs, f"Dockerfile misses `{cmd}` (make {target})"
    build = [c for c in make_commands("build") if " build " in c]
    assert build, "make build has no swift build command"
    expected = build[-1]  # e.g. `swift build -c release --product ranksmith`
    assert expected in flat, f"Dockerfile does not run `{expected}`"


def test_run_stage_is_minimal_non_root_and_exec_form(serve_flags):
    ins = stage_instructions(1)
    words = dict(ins)
    assert re.match(r"debian:bookworm-slim", [r for w, r in dockerfile_instructions() if w == "FROM"][1])
    apt = " ".join(r for w, r in ins if w == "RUN")
    assert "--no-install-recommends" in apt
    installed = set(re.search(r"--no-install-recommends ([^&]+)", apt).group(1).split())
    # OpenBLAS, OpenSSL, zlib; libcurl + CA certificates for URLSession
    # (the remote generator client), linked statically from Foundation.
    assert installed <= {"libopenblas0-pthread", "libopenblas0", "libssl3", "zlib1g", "libcurl4", "ca-certificates"}
    user = words["USER"].split(":")[0]
    assert user not in ("0", "root")
    entry = json.loads(words["ENTRYPOINT"])
    assert isinstance(entry, list) and entry[0].endswith("ranksmith"), "ENTRYPOINT in exec form: SIGTERM reaches ranksmith"
    assert json.loads(words["CMD"]) == ["serve"]
    env = dict(re.findall(r"(RANKSMITH_\w+)=(\S+)", " ".join(r for w, r in ins if w == "ENV")))
    for name in env:
        assert env_to_flag(name) in serve_flags, name
    assert env["RANKSMITH_DATA_DIR"] in json.loads(words["VOLUME"])
    assert words["EXPOSE"] == env["RANKSMITH_PORT"]
    assert env["RANKSMITH_HOST"] == "0.0.0.0"


def healthcheck_command() -> list[str]:
    hc = dict(dockerfile_instructions())["HEALTHCHECK"]
    return json.loads(hc[hc.index("CMD") + 3:].strip())


def test_healthcheck_passes_on_a_live_server_and_fails_without(server):
    cmd = healthcheck_command()
    ok = subprocess.run(cmd, env={"RANKSMITH_PORT": str(server.port), "PATH": "/usr/bin:/bin"}, timeout=10)
    assert ok.returncode == 0
    from conftest import free_port
    closed = subprocess.run(cmd, env={"RANKSMITH_PORT": str(free_port()), "PATH": "/usr/bin:/bin"},
                            capture_output=True, timeout=10)
    assert closed.returncode != 0



def test_dockerignore_keeps_the_context_small():
    ignored = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()
               if l.strip() and not l.startswith("#")]
    for path in (".build*/", "models/", ".venv*/", ".git"):
        assert path in ignored
    for w, r in stage_instructions(0):
        if w == "COPY" and "--from" not in r:
            for src in shlex.split(r)[:-1]:
                assert not any(src.rstrip("/") == i.rstrip("/") for i in ignored), src


# MARK: - compose and docs


def test_compose_file(serve_flags):
    [compose] = load_yaml_docs(ROOT / "deploy" / "compose.yaml")
    svc = compose["services"]["ranksmith"]
    for name in svc["environment"]:
        assert env_to_flag(name) in serve_flags, name
    assert svc["environment"]["RANKSMITH_DATA_DIR"] == "/data"
    assert any(v.endswith(":/data") for v in svc["volumes"])
    assert (ROOT / "deploy" / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DOCKERFILE
    nginx = compose["services"]["nginx"]
    assert any("nginx/ranksmith.conf" in v for v in nginx["volumes"])
    assert "server 127.0.0.1:8080" in (ROOT / "deploy" / "nginx" / "ranksmith.conf").read_text()


def test_operations_guide_lists_every_flag(serve_flags):
    text = (ROOT / "docs" / "operations.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\|\s*`(--[a-z0-9-]+)[^|]*\|.*$", text, re.M)}
    for flag in serve_flags:
        assert flag in rows, f"docs/operations.md has no table row for {flag}"
        env = "RANKSMITH_" + flag[2:].upper().replace("-", "_")
        assert env in rows[flag], f"row for {flag} lacks {env}"


def test_api_examples_cover_every_endpoint(implemented):
    """Every endpoint the server routes has a curl example (the README's
    "API by example" section is merged from docs/api-examples.md)."""
    text = (ROOT / "docs" / "api-examples.md").read_text()
    for method, path in sorted(implemented):
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^ /\"']+", re.escape(path))
        verb = "" if method in ("get", "post") else r"[^\n]*-X " + method.upper()
        assert re.search(r"curl" + verb + r"[^\n]*localhost:8080" + pattern + r"(?![\w/])", text), \
            f"docs/api-examples.md has no curl example for {method.upper()} {path}"
