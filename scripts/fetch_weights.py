#!/usr/bin/env python3
"""Download the model weights listed in ``weights.lock`` and verify their SHA-256 (and size).

Needs requirements-weights.txt (pooch, requests): the Dockerfile's weights stage installs it, and
users run this before a source deploy (``nuctl deploy --path .`` copies the folder, weights included).

Manifest format, one file per line (``#`` starts a comment)::

    <sha256>  <destination relative to --root>  <url>  [<size in bytes>]

pooch downloads each file to a temporary name in a staging folder under the root, checks the hash
and retries failed or truncated downloads; the file is moved into place only once it matches. The
downloader handed to pooch stops a transfer that goes past the size the manifest gives, and an
interval timer stops the whole run at ``--deadline``. On any failure, SIGTERM or SIGINT included,
no partial file is left. Destinations that leave the root (``..``, absolute, or through a symlink)
or land on the manifest itself are refused before anything is downloaded.

Exit status: 0 done (an empty manifest is a no-op, a file already present with the right hash is
not downloaded again); 1 a download failed or did not match; 2 the manifest or a destination is
unusable; 124 the deadline passed; 143 stopped by SIGTERM (130 by SIGINT).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import IO, Any

import pooch
import requests

EXIT_OK = 0
EXIT_FETCH_FAILED = 1
EXIT_BAD_MANIFEST = 2
EXIT_DEADLINE = 124
EXIT_SIGTERM = 128 + signal.SIGTERM
EXIT_SIGINT = 128 + signal.SIGINT

# Temporary downloads live here, under the root, so that a run killed outright (SIGKILL) leaves its
# debris in one known place, which the next run removes.
STAGING = ".fetch_weights.partial"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SIZE = re.compile(r"^[1-9][0-9]*$")
_SCHEMES = ("https://", "http://", "file://")
_CHUNK = 1 << 16
_INLINE_COMMENT = re.compile(r"\s+#")
_USER_AGENT = {"User-Agent": "cvat-fetch-weights"}
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGALRM}


class ManifestError(ValueError):
    """The manifest or a destination cannot be used; the message names the line and the rule."""


class FetchError(RuntimeError):
    """A file could not be downloaded or did not match; pooch does not retry these."""


class DeadlineError(FetchError):
    """The overall --deadline passed."""


class Terminated(BaseException):
    """SIGTERM or SIGINT: a BaseException, so that no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Truncated(requests.exceptions.RequestException):
    """Fewer bytes than expected: a RequestException, so that pooch retries it."""


class ServerError(requests.exceptions.RequestException):
    """HTTP 5xx: may heal, so pooch retries it."""


@dataclass(frozen=True)
class Entry:
    """One manifest line: where a file comes from and what it must hash to (and weigh, when given)."""

    sha256: str
    dest: PurePosixPath
    url: str
    line: int
    size: int | None = None


def parse_manifest(text: str, source: str = "weights.lock") -> list[Entry]:
    """Parse manifest text into entries, rejecting anything ambiguous or unsafe."""
    entries: list[Entry] = []
    seen: dict[PurePosixPath, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = _INLINE_COMMENT.split(line, maxsplit=1)[0]
        fields = line.split()
        where = f"{source}:{number}"
        if len(fields) not in (3, 4):
            raise ManifestError(
                f"{where}: expected '<sha256> <destination> <url> [<size in bytes>]', got {len(fields)} field(s)"
            )
        digest, dest_text, url = fields[:3]
        if not _SHA256.match(digest):
            raise ManifestError(f"{where}: '{digest}' is not a lowercase 64-digit SHA-256")
        dest = PurePosixPath(dest_text)
        unsafe = dest.is_absolute() or ".." in dest.parts or "\\" in dest_text
        if unsafe or not dest.parts:
            raise ManifestError(f"{where}: destination '{dest_text}' must stay inside the root")
        if not url.startswith(_SCHEMES):
            raise ManifestError(f"{where}: URL '{url}' must start with one of {', '.join(_SCHEMES)}")
        size = None
        if len(fields) == 4:
            if not _SIZE.match(fields[3]):
                raise ManifestError(f"{where}: size '{fields[3]}' is not a whole number of bytes (see `stat -c %s`)")
            size = int(fields[3])
        if dest in seen:
            raise ManifestError(f"{where}: destination '{dest}' already listed on line {seen[dest]}")
        seen[dest] = number
        entries.append(Entry(sha256=digest, dest=dest, url=url, line=number, size=size))
    return entries


def safe_target(entry: Entry, root: Path, manifest: Path | None = None) -> Path:
    """Where the file goes, after following symlinks; refused if that is outside root or the manifest."""
    real_root = root.resolve()
    target = real_root.joinpath(*entry.dest.parts)
    resolved = target.resolve()
    where = f"line {entry.line}: destination '{entry.dest}'"
    if not resolved.is_relative_to(real_root):
        raise ManifestError(f"{where} resolves to {resolved}, outside {real_root}, through a symlink")
    if STAGING in resolved.relative_to(real_root).parts:
        raise ManifestError(f"{where} is inside {STAGING}, the fetcher's own staging folder")
    if manifest is not None and resolved == manifest.resolve():
        raise ManifestError(f"{where} is the manifest itself ({resolved})")
    if resolved.is_dir():
        raise ManifestError(f"{where} is a folder")
    return resolved


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _Downloader:
    """pooch's downloader hook: streams one URL into pooch's temporary file, holding it to the size.

    pooch retries what this raises as a RequestException (network errors, 5xx, truncation) and lets
    anything else through at once (4xx, too large, the deadline, SIGTERM).
    """

    entry: Entry
    timeout: float
    attempts: list[tuple[int, str]] = field(default_factory=list)

    def __call__(self, url: str, output_file: str | IO[bytes], _pooch: object) -> None:
        assert isinstance(output_file, str)
        digest = hashlib.sha256()
        received = 0
        with open(output_file, "wb") as out:
            for chunk in self._chunks(url):
                received += len(chunk)
                if self.entry.size is not None and received > self.entry.size:
                    raise FetchError(f"{self._what()} sent more than the {self.entry.size} bytes the manifest gives")
                digest.update(chunk)
                out.write(chunk)
        self.attempts.append((received, digest.hexdigest()))
        if self.entry.size is not None and received < self.entry.size:
            raise Truncated(f"{self._what()} ended after {received} of {self.entry.size} bytes")

    def _what(self) -> str:
        return f"{self.entry.url} (for {self.entry.dest}, manifest line {self.entry.line})"

    def _check_length(self, declared: int | None) -> None:
        if declared is not None and self.entry.size is not None and declared > self.entry.size:
            raise FetchError(
                f"{self._what()} announces {declared} bytes, more than the {self.entry.size} bytes the manifest gives"
            )

    def _chunks(self, url: str) -> Any:
        if url.startswith("file://"):
            path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
            try:
                handle = open(path, "rb")  # noqa: SIM115 -- closed by the generator below
            except OSError as error:
                raise FetchError(f"cannot read {url}: {error}") from error
            return _file_chunks(handle, self._check_length)
        response = requests.get(url, stream=True, timeout=self.timeout, headers=_USER_AGENT)
        if response.status_code >= 500:
            response.close()
            raise ServerError(f"HTTP {response.status_code} from {url}")
        if response.status_code >= 400:
            response.close()
            raise FetchError(f"HTTP {response.status_code} {response.reason} from {url}")
        length = response.headers.get("Content-Length")
        self._check_length(int(length) if length and length.isdigit() else None)
        return _http_chunks(response)


def _file_chunks(handle: IO[bytes], check_length: Any) -> Any:
    with handle:
        check_length(os.fstat(handle.fileno()).st_size)
        yield from iter(lambda: handle.read(_CHUNK), b"")


def _http_chunks(response: requests.Response) -> Any:
    with response:
        # urllib3 raises (and requests wraps in a RequestException) when fewer bytes arrive than
        # Content-Length announced, so a cut connection is retried even without a size in the manifest.
        yield from response.iter_content(_CHUNK)


def _mismatch(entry: Entry, attempts: list[tuple[int, str]]) -> str:
    received, actual = attempts[-1] if attempts else (0, "(nothing received)")
    lines = [
        f"SHA-256 mismatch for {entry.dest} (manifest line {entry.line}, {entry.url}):",
        f"  expected {entry.sha256}",
        f"  actual   {actual} ({received} bytes, {len(attempts)} attempt(s))",
        "The file was not installed.",
    ]
    if entry.size is None:
        lines.append(
            "Add its size to the manifest line (4th field) to tell a cut-off download from a changed file; "
            "if the new file is the one you want, update the hash."
        )
    else:
        lines.append(f"It has the {entry.size} bytes the manifest gives: the URL now serves something else.")
    return "\n".join(lines)


def fetch(entry: Entry, root: Path, timeout: float = 60.0, retries: int = 3, manifest: Path | None = None) -> bool:
    """Make ``root/entry.dest`` exist with the expected hash.

    Returns True when a download happened, False when the file was already there. Raises
    FetchError on a failed download or a mismatch, ManifestError on an unsafe destination; no
    partial file is left (SIGTERM included, when main() installed its handler).
    """
    target = safe_target(entry, root, manifest)
    if target.is_file() and sha256_of(target) == entry.sha256:
        return False
    staging = root.resolve() / STAGING
    name = f"{entry.line}-{target.name}"
    downloader = _Downloader(entry, timeout)
    shelf = pooch.create(
        path=staging,
        base_url="",
        registry={name: f"sha256:{entry.sha256}"},
        urls={name: entry.url},
        retry_if_failed=max(0, retries - 1),
    )
    try:
        try:
            shelf.fetch(name, downloader=downloader)
        except ValueError as error:  # pooch's hash mismatch, after its retries
            raise FetchError(_mismatch(entry, downloader.attempts)) from error
        except requests.exceptions.RequestException as error:  # network, 5xx, truncated, after retries
            raise FetchError(
                f"could not download {entry.dest} from {entry.url} (manifest line {entry.line}) "
                f"in {max(1, retries)} attempt(s): {error}"
            ) from error
        except DeadlineError:
            raise
        except FetchError as error:  # 4xx, too large: retrying would not help
            raise FetchError(
                f"could not download {entry.dest} from {entry.url} (manifest line {entry.line}): {error}"
            ) from error
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging / name, target)
        return True
    finally:
        # A signal arriving now would cut the clean-up short; it is delivered right after instead.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def _on_deadline(_signum: int, _frame: FrameType | None) -> None:
    raise DeadlineError("the --deadline passed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument(
        "--manifest",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "weights.lock",
        help="manifest to read (default: weights.lock at the repository root)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="folder the destinations are relative to (default: the manifest's folder)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to connect and between reads")
    parser.add_argument("--retries", type=int, default=3, help="attempts per file on network errors and truncation")
    parser.add_argument("--deadline", type=float, default=3600.0, help="seconds for the whole run (default 3600)")
    args = parser.parse_args(argv)

    manifest: Path = args.manifest
    root: Path = args.root if args.root is not None else manifest.resolve().parent
    try:
        entries = parse_manifest(manifest.read_text(encoding="utf-8"), source=str(manifest))
        root.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            safe_target(entry, root, manifest)
    except OSError as error:
        print(f"fetch_weights: cannot read manifest: {error}", file=sys.stderr)
        return EXIT_BAD_MANIFEST
    except ManifestError as error:
        print(f"fetch_weights: {error}", file=sys.stderr)
        return EXIT_BAD_MANIFEST

    shutil.rmtree(root.resolve() / STAGING, ignore_errors=True)  # debris of a run killed outright
    if not entries:
        print(f"fetch_weights: {manifest} lists no files; nothing to fetch")
        return EXIT_OK
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGALRM, _on_deadline)
    # SIGALRM interrupts a blocking read, so a server that trickles bytes cannot outlast the deadline.
    signal.setitimer(signal.ITIMER_REAL, max(args.deadline, 0.001))
    try:
        for entry in entries:
            downloaded = fetch(entry, root, timeout=args.timeout, retries=max(1, args.retries), manifest=manifest)
            state = "downloaded and verified" if downloaded else "already present, hash verified"
            print(f"fetch_weights: {entry.dest}: {state} ({entry.sha256[:12]}...)", flush=True)
    except DeadlineError:
        print(f"fetch_weights: stopped after the {args.deadline:g} s deadline; no partial file left", file=sys.stderr)
        return EXIT_DEADLINE
    except FetchError as error:
        print(f"fetch_weights: {error}", file=sys.stderr)
        return EXIT_FETCH_FAILED
    except ManifestError as error:
        print(f"fetch_weights: {error}", file=sys.stderr)
        return EXIT_BAD_MANIFEST
    except OSError as error:  # a destination folder that is a file, a read-only root, a full disk
        print(f"fetch_weights: cannot write under {root}: {error}", file=sys.stderr)
        return EXIT_FETCH_FAILED
    except Terminated as stop:
        print(f"fetch_weights: stopped by {stop}; no partial file left", file=sys.stderr)
        return 128 + stop.signum
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
