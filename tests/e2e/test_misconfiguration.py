"""A misconfiguration stops `ranksmith serve` at start: non-zero exit, and
one line on stderr that says what to fix."""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

from conftest import BIN, GENERATOR, MODEL, clean_env


def serve(tmp_path, *flags, data_dir=None, timeout=90):
    args = [str(BIN), "serve", "--model", str(MODEL), "--generator", str(GENERATOR),
            "--data-dir", str(data_dir or tmp_path / "data"), "--host", "127.0.0.1", "--port", "0", "--threads", "1",
            *flags]
    # Flags given later win over the defaults above (the parser keeps the last).
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=clean_env())
    return p.returncode, [l for l in p.stderr.splitlines() if l.strip()]


def assert_one_line(code, lines, *words):
    assert code != 0, "started despite the misconfiguration"
    assert len(lines) == 1, "expected one line on stderr, got:\n" + "\n".join(lines)
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in {lines[0]!r}"


def test_missing_model(tmp_path):
    code, lines = serve(tmp_path, "--model", str(tmp_path / "no-such-model"))
    assert_one_line(code, lines, "no-such-model")


def test_missing_generator(tmp_path):
    code, lines = serve(tmp_path, "--generator", str(tmp_path / "no-such.gguf"))
    assert_one_line(code, lines, "no-such.gguf")


def test_data_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, lines = serve(tmp_path, data_dir=blocker / "data")
    assert_one_line(code, lines, "data")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_unwritable_data_dir(tmp_path):
    d = tmp_path / "readonly"
    d.mkdir()
    d.chmod(0o500)
    try:
        code, lines = serve(tmp_path, data_dir=d)
    finally:
        d.chmod(0o700)
    assert_one_line(code, lines, "not writable")


def test_tls_files_missing(tmp_path):
    code, lines = serve(tmp_path, "--tls-cert", str(tmp_path / "no.crt"), "--tls-key", str(tmp_path / "no.key"))
    assert_one_line(code, lines, "no.crt")


def test_tls_files_not_pem(tmp_path):
    (tmp_path / "bad.crt").write_text("not a certificate\n")
    (tmp_path / "bad.key").write_text("not a key\n")
    code, lines = serve(tmp_path, "--tls-cert", str(tmp_path / "bad.crt"), "--tls-key", str(tmp_path / "bad.key"))
    assert_one_line(code, lines, "bad.crt")


def test_tls_cert_without_key(tmp_path):
    code, lines = serve(tmp_path, "--tls-cert", str(tmp_path / "x.crt"))
    assert code != 0
    assert any("--tls-key" in l for l in lines), lines


def test_tls_cert_without_key_is_one_line(tmp_path):
    code, lines = serve(tmp_path, "--tls-cert", str(tmp_path / "x.crt"))
    assert_one_line(code, lines, "--tls-key")


def test_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        code, lines = serve(tmp_path, "--port", str(port))
    assert_one_line(code, lines, str(port))
    assert "in use" in lines[0].lower(), lines[0]


def test_truncated_generator(tmp_path):
    """A generator GGUF cut short (a failed copy, a part missing) stops the
    start with the file's name and what is wrong, not a crash at the first job."""
    cut = tmp_path / "cut-short.gguf"
    with open(GENERATOR, "rb") as src:
        cut.write_bytes(src.read(os.path.getsize(GENERATOR) // 2))
    code, lines = serve(tmp_path, "--generator", str(cut))
    assert_one_line(code, lines, "cut-short.gguf", "truncated")


def test_generator_that_is_not_gguf(tmp_path):
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("this is not a model\n" * 10)
    code, lines = serve(tmp_path, "--generator", str(bogus))
    assert_one_line(code, lines, "notes.gguf", "gguf")


def test_generator_that_is_a_directory(tmp_path):
    d = tmp_path / "a-folder.gguf"
    d.mkdir()
    code, lines = serve(tmp_path, "--generator", str(d))
    assert_one_line(code, lines, "a-folder.gguf", "regular file")
