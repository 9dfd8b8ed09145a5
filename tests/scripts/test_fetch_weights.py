"""scripts/fetch_weights.py offline: file:// URLs and a misbehaving HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import ClassVar

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


def command(manifest: Path, root: Path, *extra: str) -> list[str]:
    options = {"--retries": "1", "--timeout": "5"}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        options[flag] = value
    flags = [item for pair in options.items() for item in pair]
    return [sys.executable, str(SCRIPT), "--manifest", str(manifest), "--root", str(root), *flags]


def run(manifest: Path, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the script as the Dockerfile does: a fresh interpreter, explicit paths."""
    return subprocess.run(command(manifest, root, *extra), capture_output=True, text=True, check=False, timeout=60)


def leftovers(root: Path) -> list[Path]:
    """Anything but installed files: the staging folder, pooch's temporary files."""
    return [p for p in root.rglob("*") if fw.STAGING in p.parts or p.name.startswith("tmp")]


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "upstream" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


class Upstream(http.server.BaseHTTPRequestHandler):
    """A weights server with the faults real ones have: cut off, oversized, stalled, trickling, hung."""

    hits: ClassVar[dict[str, int]] = {}
    release: ClassVar[threading.Event] = threading.Event()
    half_sent: ClassVar[threading.Event] = threading.Event()

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def _head(self, length: int | None, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path
        Upstream.hits[path] = Upstream.hits.get(path, 0) + 1
        half = PAYLOAD[: len(PAYLOAD) // 2]
        if path == "/model.onnx" or (path == "/truncated-once" and Upstream.hits[path] > 1):
            self._head(len(PAYLOAD))
            self.wfile.write(PAYLOAD)
        elif path in ("/truncated", "/truncated-once"):
            self._head(len(PAYLOAD))  # announces all, sends half, hangs up
            self.wfile.write(half)
        elif path == "/short-no-length":
            self._head(None)  # HTTP/1.0 without a length: the cut looks like the end
            self.wfile.write(half)
        elif path == "/oversized":
            self._head(None)
            self.wfile.write(PAYLOAD + b"x" * 100_000)
        elif path == "/oversized-length":
            self._head(len(PAYLOAD) * 10)
            self.wfile.write(PAYLOAD)
        elif path == "/slow":
            self._head(len(PAYLOAD))
            self.wfile.flush()
            Upstream.release.wait(3)
        elif path == "/trickle":
            self._head(len(PAYLOAD) * 100)
            for _ in range(300):
                self.wfile.write(b"y" * 512)
                self.wfile.flush()
                if Upstream.release.wait(0.1):
                    break
        elif path == "/hang-half":
            self._head(len(PAYLOAD))
            self.wfile.write(half)
            self.wfile.flush()
            Upstream.half_sent.set()
            Upstream.release.wait(30)
        elif path == "/error500":
            self._head(0, status=500)
        else:
            self._head(0, status=404)


@pytest.fixture
def http_url() -> Iterator[str]:
    """Serve Upstream on an ephemeral port of 127.0.0.1 (never another address)."""
    Upstream.hits = {}
    Upstream.release = threading.Event()
    Upstream.half_sent = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        Upstream.release.set()
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
        (f"{PAYLOAD_SHA} w/a.bin", "expected '<sha256> <destination> <url> [<size in bytes>]'"),
        (f"{PAYLOAD_SHA} w/a.bin https://x/a 12kB", "is not a whole number of bytes"),
        (f"{PAYLOAD_SHA} w/a.bin https://x/a 0", "is not a whole number of bytes"),
        (f"{PAYLOAD_SHA} w/a.bin https://x/a 1 2", "got 5 field(s)"),
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


# --- sizes, truncation, deadlines, signals, unsafe destinations ------------------------------------


def test_size_in_the_manifest_is_parsed() -> None:
    (entry,) = fw.parse_manifest(f"{PAYLOAD_SHA} w/a.bin https://x/a {len(PAYLOAD)}\n")
    assert entry.size == len(PAYLOAD)


def test_matching_size_and_hash_is_installed(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {http_url}/model.onnx {len(PAYLOAD)}")
    result = run(manifest, root)
    assert result.returncode == 0, result.stderr
    assert (root / "weights" / "model.onnx").read_bytes() == PAYLOAD
    assert leftovers(root) == []


@pytest.mark.slow
def test_truncated_download_is_retried_and_then_installed(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {http_url}/truncated-once")
    result = run(manifest, root, "--retries", "2")
    assert result.returncode == 0, result.stderr
    assert Upstream.hits["/truncated-once"] == 2
    assert (root / "weights" / "model.onnx").read_bytes() == PAYLOAD
    assert leftovers(root) == []


@pytest.mark.slow
def test_always_truncated_is_a_failed_download_not_a_changed_file(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {http_url}/truncated")
    result = run(manifest, root, "--retries", "2")
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert Upstream.hits["/truncated"] == 2
    assert "could not download weights/model.onnx" in result.stderr
    assert "in 2 attempt(s)" in result.stderr
    assert "mismatch" not in result.stderr
    assert not (root / "weights" / "model.onnx").exists()
    assert leftovers(root) == []


def test_cut_without_a_length_is_caught_by_the_size_in_the_manifest(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} w/m.onnx {http_url}/short-no-length {len(PAYLOAD)}")
    result = run(manifest, root)
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert f"ended after {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes" in result.stderr
    assert "mismatch" not in result.stderr
    assert leftovers(root) == []


def test_cut_without_a_length_or_size_says_how_to_tell(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} w/m.onnx {http_url}/short-no-length")
    result = run(manifest, root)
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert "SHA-256 mismatch" in result.stderr
    assert f"({len(PAYLOAD) // 2} bytes, 1 attempt(s))" in result.stderr
    assert "Add its size to the manifest line" in result.stderr


@pytest.mark.parametrize("path", ["/oversized", "/oversized-length"])
def test_download_past_the_size_stops_and_is_not_retried(tmp_path: Path, http_url: str, path: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} w/m.onnx {http_url}{path} {len(PAYLOAD)}")
    result = run(manifest, root, "--retries", "3")
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert f"the {len(PAYLOAD)} bytes the manifest gives" in result.stderr
    assert Upstream.hits[path] == 1
    assert leftovers(root) == []
    assert not (root / "w" / "m.onnx").exists()


@pytest.mark.slow
def test_server_that_stops_sending_times_out(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} w/m.onnx {http_url}/slow")
    result = run(manifest, root, "--timeout", "0.5")
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert "timed out" in result.stderr.lower()
    assert leftovers(root) == []


@pytest.mark.slow
def test_trickling_server_is_stopped_by_the_deadline(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} w/m.onnx {http_url}/trickle")
    started = time.monotonic()
    result = run(manifest, root, "--timeout", "5", "--deadline", "1.5")
    elapsed = time.monotonic() - started
    assert result.returncode == fw.EXIT_DEADLINE, result.stderr
    assert "1.5 s deadline" in result.stderr
    assert elapsed < 15
    assert leftovers(root) == []


@pytest.mark.slow
def test_server_error_is_retried(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} w/m.onnx {http_url}/error500")
    result = run(manifest, root, "--retries", "2")
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert Upstream.hits["/error500"] == 2
    assert "HTTP 500" in result.stderr


@pytest.mark.slow
def test_sigterm_mid_download_leaves_nothing(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {http_url}/hang-half")
    process = subprocess.Popen(command(manifest, root, "--timeout", "30"), stderr=subprocess.PIPE, text=True)
    try:
        assert Upstream.half_sent.wait(20), "the download never started"
        time.sleep(0.3)  # the client is now blocked reading the rest, its temporary file open
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert list((root / fw.STAGING).glob("*")), "no temporary file to clean up"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == fw.EXIT_SIGTERM
    assert "stopped by SIGTERM; no partial file left" in stderr
    assert [p for p in root.rglob("*") if p.is_file()] == []
    assert leftovers(root) == []


def test_debris_of_a_killed_run_is_removed(tmp_path: Path, source_file: Path) -> None:
    root = tmp_path / "root"
    debris = root / fw.STAGING / "tmpabc123"
    debris.parent.mkdir(parents=True)
    debris.write_bytes(b"half a model")
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {source_file.as_uri()}")
    assert run(manifest, root).returncode == 0
    assert leftovers(root) == []


def test_symlink_out_of_the_root_is_refused_before_any_download(tmp_path: Path, http_url: str) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "weights").symlink_to(outside, target_is_directory=True)
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {http_url}/model.onnx")
    result = run(manifest, root)
    assert result.returncode == fw.EXIT_BAD_MANIFEST
    assert f"resolves to {outside.resolve() / 'model.onnx'}, outside" in result.stderr
    assert "through a symlink" in result.stderr
    assert list(outside.iterdir()) == []
    assert Upstream.hits == {}


def test_symlinked_file_out_of_the_root_is_refused(tmp_path: Path, source_file: Path) -> None:
    root = tmp_path / "root"
    (root / "weights").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    (root / "weights" / "model.onnx").symlink_to(victim)
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {source_file.as_uri()}")
    assert run(manifest, root).returncode == fw.EXIT_BAD_MANIFEST
    assert victim.read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("through_symlink", [False, True])
def test_destination_on_the_manifest_itself_is_refused(
    tmp_path: Path, source_file: Path, through_symlink: bool
) -> None:
    dest = "weights.lock"
    if through_symlink:
        (tmp_path / "alias.bin").symlink_to(tmp_path / "weights.lock")
        dest = "alias.bin"
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} {dest} {source_file.as_uri()}")
    before = manifest.read_text(encoding="utf-8")
    result = run(manifest, tmp_path)
    assert result.returncode == fw.EXIT_BAD_MANIFEST
    assert "is the manifest itself" in result.stderr
    assert manifest.read_text(encoding="utf-8") == before


def test_staging_folder_is_not_a_destination(tmp_path: Path) -> None:
    (entry,) = fw.parse_manifest(f"{PAYLOAD_SHA} {fw.STAGING}/x.bin https://x/a\n")
    with pytest.raises(fw.ManifestError, match="staging folder"):
        fw.safe_target(entry, tmp_path)


def test_destination_under_a_file_fails_cleanly(tmp_path: Path, source_file: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "weights").write_text("a file, not a folder", encoding="utf-8")
    manifest = write_manifest(tmp_path, f"{PAYLOAD_SHA} weights/model.onnx {source_file.as_uri()}")
    result = run(manifest, root)
    assert result.returncode == fw.EXIT_FETCH_FAILED
    assert "cannot write under" in result.stderr
    assert "Traceback" not in result.stderr
    assert leftovers(root) == []
