"""The refinement commands of the real binary, offline: `synthesize` writes
lists and resumes, `train` writes a version whose manifest hashes its lists
file, `refine` runs the job pipeline over a data directory and activates the
candidate; failures are one line without the usage text. Tiny inputs and a
few rounds and steps: the point is the commands, not the gain."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from conftest import BIN, GENERATOR, MODEL, ROOT, clean_env

SENTENCES = [
    "A man is playing a guitar on the street.",
    "Two dogs run across a snowy field.",
    "A woman is slicing tomatoes in the kitchen.",
]
TINY_LISTS = ROOT / "Tests" / "RefinementTests" / "Fixtures" / "tiny_lists.jsonl"


def ranksmith(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)


def small_dev(folder: Path) -> Path:
    """The first 40 pairs of the STS-B dev set: keeps the evaluation short."""
    lines = (ROOT / "data" / "stsb" / "stsb_dev.jsonl").read_text().splitlines()[:40]
    path = folder / "dev-small.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_synthesize_writes_lists_and_resumes(tmp_path):
    (tmp_path / "anchors.txt").write_text("\n".join(SENTENCES) + "\n")
    args = ["synthesize", "--generator", str(GENERATOR), "--input", "anchors.txt", "--output", "lists.jsonl",
            "--rounds", "3", "--min-list-length", "3", "--max-new-tokens", "24", "--threads", "1",
            "--teacher", str(MODEL)]
    first = ranksmith(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["anchors"] == len(SENTENCES)
    assert summary["kept"] + summary["dropped"] == len(SENTENCES)
    assert summary["output"] == "lists.jsonl"
    kept = [json.loads(line) for line in (tmp_path / "lists.jsonl").read_text().splitlines() if line.strip()]
    assert len(kept) == summary["kept"]
    for record in kept:
        assert record["list"][0] == record["anchor"] and len(record["list"]) >= 3
    # The teacher's check: its counts, and the lists to train on beside the output.
    f = summary["teacher_filter"]
    assert f["lists_in"] == len(kept) and f["lists_kept"] + f["lists_cut"] + f["lists_dropped"] == len(kept)
    to_train = (tmp_path / "lists.filtered.jsonl").read_text().splitlines()
    assert len(to_train) == f["lists_kept"] + f["lists_cut"]
    # The last progress line says every chain is done.
    assert f"{len(SENTENCES)}/{len(SENTENCES)} chains" in first.stderr
    # Rerunning on the same output resumes: nothing is left to do.
    again = ranksmith(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)
    assert resumed["already_done"] == len(SENTENCES) and resumed["kept"] == 0 and resumed["dropped"] == 0


def test_synthesize_with_a_missing_generator_fails_in_one_line(tmp_path):
    (tmp_path / "anchors.txt").write_text(SENTENCES[0] + "\n")
    r = ranksmith("synthesize", "--generator", "no-such.gguf", "--input", "anchors.txt", "--output", "lists.jsonl",
                  cwd=tmp_path)
    assert r.returncode != 0
    assert "cannot load no-such.gguf" in r.stderr
    assert "USAGE" not in r.stderr.upper()


def test_synthesize_refuses_a_sentence_longer_than_the_context_in_one_line(tmp_path):
    long = " ".join(["guitar"] * 20_000)
    (tmp_path / "anchors.txt").write_text(SENTENCES[0] + "\n" + long + "\n")
    r = ranksmith("synthesize", "--generator", str(GENERATOR), "--input", "anchors.txt", "--output", "lists.jsonl",
                  "--threads", "1", cwd=tmp_path)
    assert r.returncode != 0
    assert "sentence 2 is longer than the generator's context allows" in r.stderr
    assert "USAGE" not in r.stderr.upper()
    assert not (tmp_path / "lists.jsonl").exists() or not (tmp_path / "lists.jsonl").read_text().strip()


def test_train_writes_a_version_whose_manifest_hashes_the_lists(tmp_path):
    args = ["train", "--model", str(MODEL), "--lists", str(TINY_LISTS), "--output", "v-cli", "--dev", "none",
            "--steps", "2", "--lists-per-step", "2", "--max-length", "16", "--threads", "1", "--no-teacher-filter"]
    r = ranksmith(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["steps"] == 2 and summary["output"] == "v-cli"
    assert "step 2/2" in r.stderr
    manifest = json.loads((tmp_path / "v-cli" / "manifest.json").read_text())
    assert manifest["version"] == "v-cli"
    assert manifest["dataset"]["lists"] == 4
    assert manifest["dataset"]["sha256"] == hashlib.sha256(TINY_LISTS.read_bytes()).hexdigest()
    # Versions are immutable: a second run into the same folder is refused before training.
    again = ranksmith(*args, cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_refine_activates_the_candidate_with_the_gate_off(tmp_path):
    (tmp_path / "anchors.txt").write_text("\n".join(SENTENCES) + "\n")
    data = tmp_path / "data"
    r = ranksmith("refine", "--data-dir", str(data), "--model", str(MODEL), "--generator", str(GENERATOR),
                  "--input", "anchors.txt", "--dev", str(small_dev(tmp_path)),
                  "--rounds", "3", "--min-list-length", "3", "--max-new-tokens", "24", "--steps", "2", "--lr", "1e-5",
                  "--no-gate", "--version", "cli-refined", "--threads", "1", "--no-teacher-filter", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("job ") and "refining base" in lines[0]
    for stage in ("synthesize", "train", "evaluate", "activate"):
        assert f"{stage}: succeeded" in r.stdout, r.stdout
    assert lines[-1] == "activated cli-refined"
    manifest = json.loads((data / "models" / "cli-refined" / "manifest.json").read_text())
    assert manifest["parent"] == "base" and manifest["dataset"]["job"]
    assert json.loads((data / "active.json").read_text())["version"] == "cli-refined"


def test_a_refine_that_fails_says_why_once_without_the_usage(tmp_path):
    """A job that fails at run time is not a usage error: exit 1, the reason
    printed once, no usage text (here: too few lists kept to train on)."""
    (tmp_path / "anchors.txt").write_text("\n".join(SENTENCES[:2]) + "\n")
    r = ranksmith("refine", "--data-dir", str(tmp_path / "data"), "--model", str(MODEL), "--generator", str(GENERATOR),
                  "--input", "anchors.txt", "--dev", str(small_dev(tmp_path)), "--rounds", "2",
                  "--min-list-length", "3", "--max-new-tokens", "16", "--min-lists", "50", "--threads", "1",
                  cwd=tmp_path, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.count("refine failed") == 1, r.stderr
    assert "USAGE" not in r.stderr.upper()
    assert not (tmp_path / "data" / "active.json").exists() or \
        json.loads((tmp_path / "data" / "active.json").read_text())["version"] == "base"


def test_bench_train_refuses_zero_steps(tmp_path):
    (tmp_path / "list.txt").write_text("\n".join(SENTENCES) + "\n")
    r = ranksmith("bench", "train", "--input", "list.txt", "--model", str(MODEL), "--steps", "0", cwd=tmp_path)
    assert r.returncode == 64, r.stderr
    assert "--steps must be at least 1" in r.stderr
