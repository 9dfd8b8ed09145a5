"""scripts/fetch_weights.py offline: file:// URLs and an HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "fetch_weights.py"
PAYLOAD = b"not really an onnx model\n" * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
WRONG_SHA = "0" * 64


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_weights", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_weights"] = module
    spec.loader.exec_module(module)
    return module


fw = _load_script()


def run(manifest: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """Run the script as the Dockerfile does: a fresh interpreter, explicit paths."""
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--manifest",
            str(manifest),
            "--root",
            str(root),
            "--retries",
            "1",
            "--timeout",
            "5",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".partial")]


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "upstream" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def http_url(source_file: Path) -> Iterator[str]:
    """Serve the source file's folder on an ephemeral port of 127.0.0.1."""
    directory = str(source_file.parent)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=directory, **kwargs)  # type: ignore[arg-type]

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_manifest(tmp_path: Path, *lines: str) -> Path:
    manifest = tmp_path / "weights.lock"
    manifest.write_text("# test manifest\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def test_file_url_with_matching_hash_is_installed(tmp_path: Path, source_file: Path) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA}  weights/model.onnx  {source_file.as_uri()}")
    result = run(manifest, root)
    assert result.returncode == 0, result.stderr
    assert (root / "weights" / "model.onnx").read_bytes() == PAYLOAD
    assert "downloaded and verified" in result.stdout
    assert leftovers(root) == []


def test_http_url_with_matching_hash_is_installed(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {http_url}/model.onnx")
    result = run(manifest, root)
    assert result.returncode == 0, result.stderr
    assert (root / "weights" / "model.onnx").read_bytes() == PAYLOAD


def test_hash_mismatch_fails_names_both_hashes_and_leaves_nothing(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{WRONG_SHA}  weights/model.onnx  {http_url}/model.onnx")
    result = run(manifest, root)
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert "SHA-256 mismatch for weights/model.onnx" in result.stderr
    assert f"expected {WRONG_SHA}" in result.stderr
    assert f"actual   {PAYLOAD_SHA}" in result.stderr
    assert not (root / "weights" / "model.onnx").exists()
    assert leftovers(root) == []


def test_mismatch_does_not_replace_an_existing_file(tmp_path: Path, source_file: Path) -> None:
    root = tmp_path / "root"
    old = root / "weights" / "model.onnx"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"previous weights")
    manifest = write_manifest(tmp_path, f"{WRONG_SHA}  weights/model.onnx  {source_file.as_uri()}")
    result = run(manifest, root)
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert old.read_bytes() == b"previous weights"
    assert leftovers(root) == []


def test_http_404_fails_without_partial_file(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA}  weights/model.onnx  {http_url}/missing.onnx")
    result = run(manifest, root)
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert "could not download weights/model.onnx" in result.stderr
    assert "404" in result.stderr
    assert not (root / "weights" / "model.onnx").exists()
    assert leftovers(root) == []


def test_empty_manifest_is_a_no_op(tmp_path: Path) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, "", "   # only comments", "")
    result = run(manifest, root)
    assert result.returncode == 0, result.stderr
    assert "nothing to fetch" in result.stdout
    assert root.is_dir()
    assert list(root.iterdir()) == []


def test_present_file_with_right_hash_is_not_downloaded_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    present = root / "weights" / "model.onnx"
    present.parent.mkdir(parents=True)
    present.write_bytes(PAYLOAD)
    unreachable = (tmp_path / "does-not-exist.onnx").as_uri()
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {unreachable}")
    result = run(manifest, root)
    assert result.returncode == 0, result.stderr
    assert "already present" in result.stdout


def test_inline_comment_after_a_line_is_ignored() -> None:
    entries = fw.parse_manifest(f"{PAYLOAD_SHA} w/a.bin https://example.org/a.bin  # note\n")
    assert [(e.sha256, str(e.dest), e.url) for e in entries] == [(PAYLOAD_SHA, "w/a.bin", "https://example.org/a.bin")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{PAYLOAD_SHA} w/a.bin", "expected '<sha256> <destination> <url>'"),
        (
            f"{PAYLOAD_SHA.upper()} w/a.bin https://x/a",
            "not a lowercase 64-digit SHA-256",
        ),
        (f"{PAYLOAD_SHA[:-1]} w/a.bin https://x/a", "not a lowercase 64-digit SHA-256"),
        (f"{PAYLOAD_SHA} ../a.bin https://x/a", "must stay inside the root"),
        (f"{PAYLOAD_SHA} /etc/a.bin https://x/a", "must stay inside the root"),
        (f"{PAYLOAD_SHA} . https://x/a", "must stay inside the root"),
        (f"{PAYLOAD_SHA} w/a.bin ftp://x/a", "must start with one of"),
    ],
)
def test_malformed_lines_are_rejected_with_their_line_number(line: str, message: str) -> None:
    with pytest.raises(fw.ManifestError, match=r"weights\.lock:2") as caught:
        fw.parse_manifest(f"# header\n{line}\n")
    assert message in str(caught.value)


def test_duplicate_destination_is_rejected() -> None:
    text = f"{PAYLOAD_SHA} w/a.bin https://x/a\n{PAYLOAD_SHA} w/a.bin https://x/b\n"
    with pytest.raises(fw.ManifestError, match="already listed on line 1"):
        fw.parse_manifest(text)


def test_malformed_manifest_exits_2(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "not a manifest line")
    result = run(manifest, tmp_path / "root")
    assert result.returncode == fw.EXIT_BAD_MANIFEST
    assert "weights.lock:2" in result.stderr


def test_committed_manifest_parses_and_default_model_needs_no_weights() -> None:
    entries = fw.parse_manifest((REPO / "weights.lock").read_text(encoding="utf-8"))
    assert entries == [], "the default OpenCV model ships without downloaded weights"
