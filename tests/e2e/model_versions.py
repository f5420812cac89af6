"""Makes a second model version for the swap tests without a trainer: a copy
of the bundled sentence-transformers folder whose weights are perturbed
deterministically, plus a manifest.json, under `<data-dir>/models/<version>/`.

Standard library only. model.safetensors is an 8-byte little-endian header
length, a JSON header `{name: {"dtype", "shape", "data_offsets": [begin,
end]}, "__metadata__"?}`, then the raw little-endian tensors (offsets are
relative to the end of the header).
"""
from __future__ import annotations

import json
import random
import shutil
import struct
import sys
from array import array
from pathlib import Path

# The feed-forward output projection of the last two layers: enough to move
# every sentence vector measurably (cosine to the base vector ≈ 0.9), small
# enough to rewrite in pure Python in about a second.
PERTURBED = ("encoder.layer.4.output.dense.weight", "encoder.layer.5.output.dense.weight")


def perturb_safetensors(path: Path, seed: int, scale: float) -> None:
    raw = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    base = 8 + length
    rng = random.Random(seed)
    for name in PERTURBED:
        entry = header[name]
        assert entry["dtype"] == "F32", f"{name} is {entry['dtype']}, expected F32"
        begin, end = (base + o for o in entry["data_offsets"])
        values = array("f")
        values.frombytes(bytes(raw[begin:end]))
        if sys.byteorder != "little":
            values.byteswap()
        noise = [scale * rng.uniform(-1.0, 1.0) for _ in range(len(values))]
        out = array("f", (v * (1.0 + n) + 0.02 * n for v, n in zip(values, noise)))
        if sys.byteorder != "little":
            out.byteswap()
        raw[begin:end] = out.tobytes()
    path.write_bytes(bytes(raw))


def make_version(source: Path, data_dir: Path, version: str, seed: int = 7, scale: float = 0.5) -> Path:
    """Publishes `<data_dir>/models/<version>/`: `source` with perturbed
    weights and a manifest naming `base` as its parent. Written under a
    hidden name and renamed, as the trainer publishes versions."""
    models = data_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    staging = models / f".{version}.test.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    perturb_safetensors(staging / "model.safetensors", seed, scale)
    manifest = {
        "version": version, "parent": "base", "teacher": "base", "created": "2026-01-01T00:00:00Z",
        "dataset": {"file": "synthetic-perturbation", "lists": 0, "sha256": ""},
        "hyper_parameters": {"perturbed": list(PERTURBED), "seed": seed, "scale": scale},
        "curve": [], "evaluation": {"dev": None, "before": None, "after": None, "best_step": 0},
        "steps": 0, "seconds": 0,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    target = models / version
    staging.rename(target)
    return target


if __name__ == "__main__":
    src, data, name = sys.argv[1:4]
    print(make_version(Path(src), Path(data), name))
