"""Take a newer framework release into a repository made from the template, without hand-merging.

A release is read from a source: a git repository (local path or URL) at a ref, a plain folder, or a
wheel (which carries the `cvat_function` package only). Its `cvat_function/framework-files.txt` says which
files the framework owns; only those are added, replaced or removed, never the user's room.

A framework file changed here since the installed release is never overwritten silently: the installed
release's hashes come from `.cvat-function.lock` (written by every upgrade) or, before the first upgrade,
from the source at `--base` (default: the tag `v<installed __version__>`). A file changed here refuses
the whole upgrade, naming it, unless `force`. Nothing is half-written: every new file is written beside
its target first, then all are swapped in, and any failure puts every file back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MANIFEST = "cvat_function/framework-files.txt"
LOCK = ".cvat-function.lock"
ROOM = frozenset(
    {
        "model_handler.py",
        "function.yaml",
        "function-gpu.yaml",
        "requirements.txt",
        "weights.lock",
        "test_model_handler.py",
    }
)
"""The user's files: no release may list them (nor the lock) as its own."""
WHEEL_SCOPE = ("cvat_function/",)
"""What a wheel can supply: the package only; the other framework files stay as they are."""
_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


class UpgradeError(Exception):
    """The upgrade cannot start or finish; nothing was changed."""


@dataclass(frozen=True, slots=True)
class File:
    data: bytes
    executable: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class Release:
    """The framework files of one release, with where they came from."""

    files: dict[str, File]
    version: str
    source: str
    ref: str | None
    scope: tuple[str, ...] | None = None
    """Manifest entries this source can supply (None: all of them)."""


@dataclass
class Plan:
    installed: str
    target: Release
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_deleted: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    lock: dict[str, object] = field(default_factory=dict)

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.updated) + len(self.removed)


# -- reading a release --------------------------------------------------------------------------------------
def _clean(path: str) -> str | None:
    """A safe relative POSIX path, or None for what a release must not carry (absolute, '..', caches)."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or "\\" in path:
        return None
    if "__pycache__" in pure.parts or pure.suffix == ".pyc" or ".git" in pure.parts:
        return None
    return pure.as_posix()


def parse_manifest(text: str, where: str) -> list[str]:
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        clean = _clean(line.rstrip("/"))
        if clean is None:
            raise UpgradeError(f"{where}:{number}: {line!r} is not a path inside the repository")
        entry = clean + ("/" if line.endswith("/") else "")
        if entry.rstrip("/") in ROOM or entry.rstrip("/") == LOCK:
            raise UpgradeError(f"{where}:{number}: lists {entry}, which is the user's; refusing this release")
        entries.append(entry)
    if not entries:
        raise UpgradeError(f"{where} lists no files")
    return entries


def _owned(path: str, entries: Iterable[str]) -> bool:
    return any(path == e or (e.endswith("/") and path.startswith(e)) for e in entries)


def _version(files: Mapping[str, File], where: str) -> str:
    init = files.get("cvat_function/__init__.py")
    found = _VERSION.search(init.data.decode("utf-8", "replace")) if init else None
    if found is None:
        raise UpgradeError(f"{where}: no __version__ in cvat_function/__init__.py; is this the cvat-function template?")
    return found.group(1)


def _release(
    everything: dict[str, File],
    source: str,
    ref: str | None,
    scope: tuple[str, ...] | None,
    older: list[str] | None = None,
) -> Release:
    """The framework files among `everything`. `older`: the manifest to apply to a base release from before
    manifests (0.1.0), which also has no __version__; it is then named by its ref."""
    where = f"{source}{f' at {ref}' if ref else ''}"
    manifest = everything.get(MANIFEST)
    if manifest is None and older is None:
        raise UpgradeError(f"{where} has no {MANIFEST}: not a cvat-function release (or one older than 0.2.0)")
    entries = parse_manifest(manifest.data.decode("utf-8"), f"{where}:{MANIFEST}") if manifest else older or []
    files = {p: f for p, f in everything.items() if _owned(p, entries) and (scope is None or _owned(p, scope))}
    version = _version(everything, where) if manifest or ref is None else ref
    return Release(files, version, source, ref, scope)


def _is_git_url(source: str) -> bool:
    return "://" in source or bool(re.match(r"^[\w.-]+@[\w.-]+:", source))


def _git(*args: str, cwd: Path | None = None) -> bytes:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=env, timeout=600, check=False)
    except FileNotFoundError as e:
        raise UpgradeError("git is not installed: it is needed for a git source (or pass a folder or a wheel)") from e
    if done.returncode != 0:
        raise UpgradeError(f"git {' '.join(args)} failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout


class GitSource:
    """A template repository cloned once into a temporary folder; any ref can be read from it."""

    def __init__(self, source: str, workdir: Path) -> None:
        self.source = source
        self.clone = workdir / "clone"
        location = source if _is_git_url(source) else str(Path(source).resolve())
        _git("clone", "--quiet", "--no-checkout", location, str(self.clone))

    def has_ref(self, ref: str) -> bool:
        try:
            self._commit(ref)
        except UpgradeError:
            return False
        return True

    def _commit(self, ref: str) -> str:
        for candidate in (ref, f"origin/{ref}"):
            try:
                return (
                    _git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", cwd=self.clone).decode().strip()
                )
            except UpgradeError:
                continue
        raise UpgradeError(f"{self.source} has no tag, branch or commit {ref!r}")

    def release(self, ref: str, older: list[str] | None = None) -> Release:
        archive = _git("archive", "--format=tar", self._commit(ref), cwd=self.clone)
        files: dict[str, File] = {}
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar:
                path = _clean(member.name)
                if member.isfile() and path is not None:
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    files[path] = File(extracted.read(), bool(member.mode & 0o111))
        return _release(files, self.source, ref, None, older)


def read_folder(folder: Path) -> Release:
    """A release as plain files (an unpacked template); only the manifest's files are read."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise UpgradeError(f"{folder} has no {MANIFEST}: not a cvat-function release (or one older than 0.2.0)")
    files: dict[str, File] = {}
    for entry in parse_manifest(manifest.read_text(encoding="utf-8"), str(manifest)):
        base = folder / entry.rstrip("/")
        found = sorted(p for p in base.rglob("*") if p.is_file()) if entry.endswith("/") else [base]
        for path in found:
            relative = _clean(path.relative_to(folder).as_posix())
            if relative is not None and path.is_file() and not path.is_symlink():
                files[relative] = File(path.read_bytes(), os.access(path, os.X_OK))
    return _release(files, str(folder), None, None)


def read_wheel(wheel: Path) -> Release:
    """The package from a wheel: only cvat_function/ is upgraded from it."""
    files: dict[str, File] = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                path = _clean(info.filename)
                if path is not None and not info.is_dir() and path.startswith("cvat_function/"):
                    files[path] = File(archive.read(info), bool((info.external_attr >> 16) & 0o111))
    except zipfile.BadZipFile as e:
        raise UpgradeError(f"{wheel} is not a wheel (zip): {e}") from e
    return _release(files, str(wheel), None, WHEEL_SCOPE)


def open_source(source: str, ref: str | None, workdir: Path) -> tuple[Release, GitSource | None]:
    path = Path(source)
    if source.endswith(".whl"):
        if ref:
            raise UpgradeError("--ref applies to a git source, not to a wheel")
        if not path.is_file():
            raise UpgradeError(f"wheel not found: {source}")
        return read_wheel(path), None
    if not _is_git_url(source) and not path.is_dir():
        raise UpgradeError(f"source not found: {source} (a template folder, a git URL or a .whl)")
    if ref is None and not _is_git_url(source):
        return read_folder(path), None
    git = GitSource(source, workdir)
    return git.release(ref or "HEAD"), git


# -- what is installed ------------------------------------------------------------------------------------
def installed_version(repo: Path, base: str | None) -> str:
    """The repository's cvat_function.__version__; before 0.2.0 there was none, and --base names the release."""
    init = repo / "cvat_function" / "__init__.py"
    found = _VERSION.search(init.read_text(encoding="utf-8")) if init.is_file() else None
    if found is not None:
        return found.group(1)
    if not init.is_file():
        raise UpgradeError(f"{repo} has no cvat_function/__init__.py: is it a repository made from the template?")
    if base is None:
        raise UpgradeError(f"{init} has no __version__ (a release before 0.2.0): name it with --base (tag or commit)")
    return base


def read_lock(repo: Path) -> dict[str, object] | None:
    path = repo / LOCK
    if not path.is_file():
        return None
    try:
        lock: object = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UpgradeError(f"{path} is not valid JSON ({e}): restore it from git, or pass --base") from e
    files = lock.get("files") if isinstance(lock, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise UpgradeError(f"{path} has no 'files' mapping of path to SHA-256: restore it from git, or pass --base")
    assert isinstance(lock, dict)
    return {str(key): value for key, value in lock.items()}


def _local(repo: Path, path: str) -> File | None:
    target = repo / path
    if target.is_symlink() or target.is_dir():
        return File(b"\0not a regular file\0")  # never equal to a release's file: reported as changed
    if not target.exists():
        return None
    return File(target.read_bytes(), os.access(target, os.X_OK))


# -- the plan -------------------------------------------------------------------------------------------
def plan_upgrade(repo: Path, target: Release, base: Mapping[str, str], installed: str, force: bool) -> Plan:
    """What to add, update and remove, given the installed release's hashes (`base`, path → SHA-256)."""
    plan = Plan(installed, target)
    in_scope = [p for p in base if target.scope is None or _owned(p, target.scope)]
    for path in sorted(set(target.files) | set(in_scope)):
        new, old = target.files.get(path), base.get(path)
        local = _local(repo, path)
        if new is not None and local is not None and local.sha256 == new.sha256:
            plan.unchanged.append(path)
        elif local is None:
            if old is not None and new is not None and not force:
                plan.kept_deleted.append(path)  # removed here on purpose: not brought back
            elif new is not None:
                plan.added.append(path)
        elif old is None:
            if force:
                plan.updated.append(path)
            else:
                plan.conflicts.append(
                    (path, f"is yours (not a framework file of {installed}), and {target.version} adds it")
                )
        elif local.sha256 != old and not force:
            action = "removes" if new is None else "changes"
            plan.conflicts.append((path, f"changed here since {installed}; {target.version} {action} it"))
        elif new is None:
            plan.removed.append(path)
        else:
            plan.updated.append(path)
    kept = {p: h for p, h in base.items() if target.scope is not None and not _owned(p, target.scope)}
    plan.lock = {
        "version": target.version,
        "source": target.source,
        "ref": target.ref,
        "files": dict(sorted({**kept, **{p: f.sha256 for p, f in target.files.items()}}.items())),
    }
    return plan


def _baseline(
    repo: Path, workdir: Path, git: GitSource | None, base: str | None, installed: str, force: bool, target: Release
) -> dict[str, str]:
    """The installed release's framework files, path → SHA-256."""
    if base is None:
        lock = read_lock(repo)
        if lock is not None:
            files = lock["files"]
            assert isinstance(files, dict)
            return {str(k): str(v) for k, v in files.items()}
        if git is not None and git.has_ref(f"v{installed}"):
            base = f"v{installed}"
    if base is None:
        if force:
            return {}
        raise UpgradeError(
            f"{repo} has no {LOCK} and the source has no tag v{installed}: name the template release this "
            "repository was made from with --base (a tag of the source, or that release's folder or wheel), "
            "or pass --force to take the new framework files without checking for changes made here"
        )
    if git is not None and not Path(base).exists():
        manifest = target.files.get(MANIFEST)
        target_entries = parse_manifest(manifest.data.decode("utf-8"), MANIFEST) if manifest else None
        release = git.release(base, older=target_entries)
    else:
        release, _ = open_source(base, None, workdir / "base")
    return {p: f.sha256 for p, f in release.files.items()}


# -- writing, all or nothing -------------------------------------------------------------------------------
def _write_all(repo: Path, writes: Mapping[str, File], removes: Iterable[str]) -> None:
    """Swap every file in; on any failure put every file back as it was and leave no temporary behind."""
    staged: list[tuple[Path, Path]] = []
    created_dirs: list[Path] = []
    backup = Path(tempfile.mkdtemp(prefix=".cvat-function-upgrade-", dir=repo))
    done: list[tuple[Path, Path | None, bool]] = []  # target, its backup, whether a new file was put there
    try:
        for path, file in writes.items():
            target = repo / path
            missing = [p for p in [target.parent, *target.parent.parents] if not p.exists() and repo in p.parents]
            for directory in reversed(missing):
                directory.mkdir()
                created_dirs.append(directory)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".upgrade", dir=target.parent)
            staged.append((Path(name), target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(file.data)
            os.chmod(name, 0o755 if file.executable else 0o644)
        for index, (temporary, target) in enumerate(staged):
            saved = None
            if target.exists() or target.is_symlink():
                saved = backup / str(index)
                os.replace(target, saved)
            done.append((target, saved, False))
            os.replace(temporary, target)
            done[-1] = (target, saved, True)
        for index, path in enumerate(removes, len(staged)):
            target = repo / path
            saved = backup / str(index)
            os.replace(target, saved)
            done.append((target, saved, False))
    except BaseException:
        for target, saved, placed in reversed(done):
            if placed:
                target.unlink(missing_ok=True)
            if saved is not None:
                os.replace(saved, target)
        for leftover, _ in staged:
            leftover.unlink(missing_ok=True)
        for directory in reversed(created_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)
    for path in removes:  # folders the release no longer has, once empty
        for parent in (repo / path).parents:
            if parent == repo or any(parent.iterdir()):
                break
            parent.rmdir()


def upgrade(
    repo: str | Path,
    source: str,
    *,
    ref: str | None = None,
    base: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> Plan:
    """Plan the upgrade of `repo` to the release at `source` (and `ref`), and apply it unless `dry_run` or
    a conflict. Raises UpgradeError when the source or the installed state cannot be read."""
    root = Path(repo).resolve()
    installed = installed_version(root, base)
    with tempfile.TemporaryDirectory(prefix="cvat-function-upgrade-") as tmp:
        workdir = Path(tmp)
        target, git = open_source(source, ref, workdir)
        baseline = _baseline(root, workdir, git, base, installed, force, target)
    plan = plan_upgrade(root, target, baseline, installed, force)
    if dry_run or plan.conflicts:
        return plan
    writes = {p: target.files[p] for p in plan.added + plan.updated}
    lock = json.dumps(plan.lock, indent=1, sort_keys=False) + "\n"
    writes[LOCK] = File(lock.encode("utf-8"))
    _write_all(root, writes, plan.removed)
    return plan


def format_plan(plan: Plan, dry_run: bool) -> str:
    would = "would be " if dry_run else ""
    target = plan.target
    origin = f"{target.source}{f' at {target.ref}' if target.ref else ''}"
    lines = [f"framework {plan.installed} → {target.version} from {origin}"]
    for label, paths in (("added", plan.added), ("updated", plan.updated), ("removed", plan.removed)):
        lines += [f"  {would}{label:<8} {p}" for p in paths]
    lines += [f"  left deleted {p} (removed here; --force brings it back)" for p in plan.kept_deleted]
    lines.append(f"  {len(plan.unchanged)} framework file(s) already as in {target.version}")
    if plan.conflicts:
        lines.append(
            f"refused: {len(plan.conflicts)} framework file(s) would lose changes made here; nothing was written:"
        )
        lines += [f"  {path}: {why}" for path, why in plan.conflicts]
        lines.append(
            "  move your change out of the framework's files (into model_handler.py or a file of your own), or keep "
            "a copy and rerun with --force to take the release's version"
        )
    elif not dry_run:
        lines.append(f"{plan.changes} file(s) changed, {LOCK} records {target.version}; review with `git diff`, then "
                     "`make test`")  # fmt: skip
    return "\n".join(lines)
