#!/usr/bin/env python3
"""Download the model weights listed in ``weights.lock`` and verify their SHA-256.

Standard library only: the Dockerfile runs it in a bare Python stage, and users run it
before a source deploy (``nuctl deploy --path .`` copies the folder, weights included).

Manifest format, one file per line (``#`` starts a comment)::

    <sha256>  <destination relative to --root>  <url>

Every file is downloaded to a temporary name next to its destination, hashed while it
streams, and renamed into place only when the hash matches. A mismatch or a failed
download removes the temporary file and exits with status 1, naming the expected and
the actual hash; a malformed manifest exits with status 2. A file already present with
the right hash is not downloaded again. An empty manifest is a no-op.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

EXIT_OK = 0
EXIT_FETCH_FAILED = 1
EXIT_BAD_MANIFEST = 2

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCHEMES = ("https://", "http://", "file://")
_CHUNK = 1 << 20
_INLINE_COMMENT = re.compile(r"\s+#")


class ManifestError(ValueError):
    """The manifest cannot be used; the message names the line and the rule."""


class FetchError(RuntimeError):
    """A file could not be downloaded or did not match its hash."""


@dataclass(frozen=True)
class Entry:
    """One manifest line: where a file comes from and what it must hash to."""

    sha256: str
    dest: PurePosixPath
    url: str
    line: int


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
        if len(fields) != 3:
            raise ManifestError(f"{where}: expected '<sha256> <destination> <url>', got {len(fields)} field(s)")
        digest, dest_text, url = fields
        if not _SHA256.match(digest):
            raise ManifestError(f"{where}: '{digest}' is not a lowercase 64-digit SHA-256")
        dest = PurePosixPath(dest_text)
        unsafe = dest.is_absolute() or ".." in dest.parts or "\\" in dest_text
        if unsafe or not dest.parts:
            raise ManifestError(f"{where}: destination '{dest_text}' must stay inside the root")
        if not url.startswith(_SCHEMES):
            raise ManifestError(f"{where}: URL '{url}' must start with one of {', '.join(_SCHEMES)}")
        if dest in seen:
            raise ManifestError(f"{where}: destination '{dest}' already listed on line {seen[dest]}")
        seen[dest] = number
        entries.append(Entry(sha256=digest, dest=dest, url=url, line=number))
    return entries


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_and_hash(source: BinaryIO, target: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: source.read(_CHUNK), b""):
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest()


def fetch(entry: Entry, root: Path, timeout: float = 60.0, retries: int = 3) -> bool:
    """Make ``root/entry.dest`` exist with the expected hash.

    Returns True when a download happened, False when the file was already there.
    Raises FetchError on a failed download or a hash mismatch; no partial file is left.
    """
    target = root.joinpath(*entry.dest.parts)
    if target.is_file() and sha256_of(target) == entry.sha256:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(entry.url, headers={"User-Agent": "cvat-fetch-weights"})
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        fd, partial_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        partial = Path(partial_name)
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(request, timeout=timeout) as response,
            ):
                actual = _copy_and_hash(response, out)
            if actual != entry.sha256:
                raise FetchError(
                    f"SHA-256 mismatch for {entry.dest} "
                    f"(manifest line {entry.line}, {entry.url}):\n"
                    f"  expected {entry.sha256}\n"
                    f"  actual   {actual}\n"
                    "The file was not installed. If the new file is the one you want, "
                    "update the hash in the manifest; otherwise the URL now serves "
                    "something else."
                )
            os.replace(partial, target)
            return True
        except FetchError:
            raise
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            last_error = error
            client_error = isinstance(error, urllib.error.HTTPError) and error.code < 500
            if client_error:
                break  # 4xx will not heal by retrying
            if attempt < retries:
                time.sleep(min(2**attempt, 10))
        finally:
            partial.unlink(missing_ok=True)
    raise FetchError(f"could not download {entry.dest} from {entry.url} (manifest line {entry.line}): {last_error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
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
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per network read")
    parser.add_argument("--retries", type=int, default=3, help="attempts per file on network errors")
    args = parser.parse_args(argv)

    manifest: Path = args.manifest
    root: Path = args.root if args.root is not None else manifest.resolve().parent
    try:
        entries = parse_manifest(manifest.read_text(encoding="utf-8"), source=str(manifest))
    except OSError as error:
        print(f"fetch_weights: cannot read manifest: {error}", file=sys.stderr)
        return EXIT_BAD_MANIFEST
    except ManifestError as error:
        print(f"fetch_weights: {error}", file=sys.stderr)
        return EXIT_BAD_MANIFEST

    root.mkdir(parents=True, exist_ok=True)
    if not entries:
        print(f"fetch_weights: {manifest} lists no files; nothing to fetch")
        return EXIT_OK
    for entry in entries:
        try:
            downloaded = fetch(entry, root, timeout=args.timeout, retries=max(1, args.retries))
        except FetchError as error:
            print(f"fetch_weights: {error}", file=sys.stderr)
            return EXIT_FETCH_FAILED
        state = "downloaded and verified" if downloaded else "already present, hash verified"
        print(f"fetch_weights: {entry.dest}: {state} ({entry.sha256[:12]}...)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
