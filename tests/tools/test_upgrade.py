"""`upgrade` against a template of its own: a local git repository with two tagged releases.

v1.0.0 → v2.0.0 changes a core module, removes one, adds one, changes the deploy script (executable),
starts owning docs/, and changes the template's own model_handler.py and requirements.txt, which must
never reach a user's repository.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from cvat_function.tools import upgrade as up
from cvat_function.tools.upgrade import LOCK, UpgradeError

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # each test clones a git repository (about a second)

MANIFEST_V1 = "# framework\ncvat_function/\nscripts/\nmain.py\n"
V1 = {
    "cvat_function/__init__.py": '__version__ = "1.0.0"\n',
    "cvat_function/framework-files.txt": MANIFEST_V1,
    "cvat_function/core/runtime.py": "RUNTIME = 1\n",
    "cvat_function/core/old.py": "OLD = 1\n",
    "scripts/deploy.sh": "#!/bin/sh\necho v1\n",
    "main.py": "# glue\n",
    "model_handler.py": "class ModelHandler: ...  # template default v1\n",
    "function.yaml": "metadata: {name: template-default}\n",
    "requirements.txt": "numpy\n",
    "README.md": "template readme v1\n",
}
V2 = {
    **{k: v for k, v in V1.items() if k != "cvat_function/core/old.py"},
    "cvat_function/__init__.py": '__version__ = "2.0.0"\n',
    "cvat_function/framework-files.txt": MANIFEST_V1 + "docs/\n",
    "cvat_function/core/runtime.py": "RUNTIME = 2\n",
    "cvat_function/core/new.py": "NEW = 2\n",
    "scripts/deploy.sh": "#!/bin/sh\necho v2\n",
    "docs/guide.md": "# guide v2\n",
    "model_handler.py": "class ModelHandler: ...  # template default v2\n",
    "requirements.txt": "numpy\nonnxruntime\n",
    "README.md": "template readme v2\n",
}
USER_FILES = {
    "model_handler.py": "class ModelHandler: ...  # MY model\n",
    "function.yaml": "metadata: {name: my-function}\n",
    "requirements.txt": "numpy\ntorch\n",
    "README.md": "my readme\n",
    "scripts/my_tool.sh": "#!/bin/sh\necho mine\n",  # mine, inside a framework folder
    "notes.md": "mine\n",
}


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com", GIT_CONFIG_GLOBAL=os.devnull)
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
        if path.endswith(".sh"):
            (root / path).chmod(0o755)


def snapshot(root: Path) -> dict[str, tuple[bytes, bool]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), os.access(p, os.X_OK))
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("template")
    git("init", "--quiet", "-b", "main", cwd=root)
    for files, tag in ((V1, "v1.0.0"), (V2, "v2.0.0")):
        for old in [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]:
            old.unlink()
        write_tree(root, files)
        git("add", "-A", cwd=root)
        git("commit", "--quiet", "-m", tag, cwd=root)
        git("tag", tag, cwd=root)
    return root


@pytest.fixture
def user(template: Path, tmp_path: Path) -> Path:
    """A repository made from the template at v1.0.0 ("Use this template"), then made the user's own."""
    repo = tmp_path / "mine"
    repo.mkdir()
    archive = subprocess.run(["git", "archive", "v1.0.0"], cwd=template, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                write_tree(repo, {member.name: extracted.read().decode()})
    write_tree(repo, USER_FILES)
    return repo


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The verb from this checkout (in the user's repository, `python -m` would run its own older copy)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "cvat_function", "upgrade", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_upgrade_updates_the_framework_and_leaves_every_user_file_alone(template: Path, user: Path) -> None:
    plan = up.upgrade(user, str(template), ref="v2.0.0")  # no lock yet: the base is tag v1.0.0
    assert plan.conflicts == []
    assert plan.updated == [
        "cvat_function/__init__.py",
        "cvat_function/core/runtime.py",
        "cvat_function/framework-files.txt",  # the release's own list comes along
        "scripts/deploy.sh",
    ]
    assert plan.added == ["cvat_function/core/new.py", "docs/guide.md"]
    assert plan.removed == ["cvat_function/core/old.py"]
    after = snapshot(user)
    for path in ("cvat_function/__init__.py", "cvat_function/core/runtime.py", "cvat_function/core/new.py"):
        assert after[path][0].decode() == V2[path]
    assert after["scripts/deploy.sh"] == (V2["scripts/deploy.sh"].encode(), True)  # still executable
    assert after["docs/guide.md"][0].decode() == V2["docs/guide.md"]
    assert "cvat_function/core/old.py" not in after
    for path, text in USER_FILES.items():  # the room, the README and the user's own files, byte for byte
        assert after[path][0].decode() == text, path
    lock = json.loads(after[LOCK][0])
    assert lock["version"] == "2.0.0"
    assert lock["ref"] == "v2.0.0"
    assert set(lock["files"]) == {p for p in V2 if up._owned(p, up.parse_manifest(V2[up.MANIFEST], "v2"))}
    assert not [p for p in after if ".upgrade" in p or p.startswith(".cvat-function-upgrade-")]


def test_a_changed_framework_file_refuses_the_upgrade_naming_it_and_writes_nothing(template: Path, user: Path) -> None:
    (user / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho my fix\n")
    before = snapshot(user)
    done = cli(str(template), "--ref", "v2.0.0", "--repo", str(user), cwd=user.parent)
    assert done.returncode == 1
    assert "scripts/deploy.sh: changed here since 1.0.0; 2.0.0 changes it" in done.stderr
    assert "nothing was written" in done.stderr
    assert "--force" in done.stderr
    assert snapshot(user) == before


def test_force_takes_the_release_version_of_a_changed_file(template: Path, user: Path) -> None:
    (user / "scripts" / "deploy.sh").write_text("#!/bin/sh\necho my fix\n")
    plan = up.upgrade(user, str(template), ref="v2.0.0", force=True)
    assert "scripts/deploy.sh" in plan.updated
    assert (user / "scripts" / "deploy.sh").read_text() == V2["scripts/deploy.sh"]
    assert (user / "model_handler.py").read_text() == USER_FILES["model_handler.py"]


def test_dry_run_lists_the_changes_and_writes_nothing(template: Path, user: Path) -> None:
    before = snapshot(user)
    done = cli(str(template), "--ref", "v2.0.0", "--dry-run", "--repo", "mine", cwd=user.parent)
    assert done.returncode == 0, done.stderr
    assert "framework 1.0.0 → 2.0.0" in done.stdout
    assert "would be updated  cvat_function/core/runtime.py" in done.stdout
    assert "would be added    docs/guide.md" in done.stdout
    assert "would be removed  cvat_function/core/old.py" in done.stdout
    assert "model_handler.py" not in done.stdout
    assert snapshot(user) == before


def test_the_lock_is_the_base_of_the_next_upgrade(template: Path, user: Path) -> None:
    up.upgrade(user, str(template), ref="v2.0.0")
    again = up.upgrade(user, str(template), ref="v2.0.0", dry_run=True)
    assert (again.installed, again.changes, again.conflicts) == ("2.0.0", 0, [])
    (user / "cvat_function" / "core" / "new.py").write_text("NEW = 'mine'\n")
    back = up.upgrade(user, str(template), ref="v1.0.0")  # v1.0.0 has no new.py: it would remove it
    assert back.conflicts == [("cvat_function/core/new.py", "changed here since 2.0.0; 1.0.0 removes it")]


def test_a_file_the_user_deleted_stays_deleted(template: Path, user: Path) -> None:
    (user / "main.py").unlink()
    plan = up.upgrade(user, str(template), ref="v2.0.0")
    assert plan.kept_deleted == ["main.py"]
    assert not (user / "main.py").exists()


def test_a_user_file_where_the_release_adds_one_is_a_conflict(template: Path, user: Path) -> None:
    write_tree(user, {"docs/guide.md": "my own guide\n"})
    plan = up.upgrade(user, str(template), ref="v2.0.0")
    assert plan.conflicts == [("docs/guide.md", "is yours (not a framework file of 1.0.0), and 2.0.0 adds it")]
    assert (user / "docs" / "guide.md").read_text() == "my own guide\n"


def test_a_failure_while_swapping_files_in_puts_everything_back(
    template: Path, user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(user)
    real_replace = os.replace
    calls = {"n": 0}

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # mid-way: some files already swapped in
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(up.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        up.upgrade(user, str(template), ref="v2.0.0")
    assert snapshot(user) == before
    assert not (user / "docs").exists()  # the folder created for the new file is gone again
    assert not [p for p in user.iterdir() if p.name.startswith(".cvat-function-upgrade-")]


def test_without_lock_or_matching_tag_it_asks_for_base(template: Path, user: Path) -> None:
    (user / "cvat_function" / "__init__.py").write_text('__version__ = "0.9.0"\n')
    with pytest.raises(UpgradeError, match=r"no \.cvat-function\.lock and the source has no tag v0\.9\.0.*--base"):
        up.upgrade(user, str(template), ref="v2.0.0")
    plan = up.upgrade(user, str(template), ref="v2.0.0", base="v1.0.0", dry_run=True)
    assert plan.installed == "0.9.0"
    assert "cvat_function/__init__.py" in [p for p, _ in plan.conflicts]  # changed here (0.9.0 ≠ v1.0.0)


def test_a_repository_from_before_manifests_and_versions_upgrades_with_base(tmp_path: Path) -> None:
    """0.1.0 had neither framework-files.txt nor __version__: --base names it, v2's list picks its files."""
    template = tmp_path / "template"
    template.mkdir()
    git("init", "--quiet", "-b", "main", cwd=template)
    v0 = {k: v for k, v in V1.items() if k != up.MANIFEST} | {"cvat_function/__init__.py": "# no version yet\n"}
    for files, tag in ((v0, "v0.1.0"), (V2, "v2.0.0")):
        for old in [p for p in template.rglob("*") if p.is_file() and ".git" not in p.parts]:
            old.unlink()
        write_tree(template, files)
        git("add", "-A", cwd=template)
        git("commit", "--quiet", "-m", tag, cwd=template)
        git("tag", tag, cwd=template)
    user = tmp_path / "mine"
    write_tree(user, v0 | USER_FILES)
    with pytest.raises(UpgradeError, match="has no __version__"):
        up.upgrade(user, str(template), ref="v2.0.0")
    plan = up.upgrade(user, str(template), ref="v2.0.0", base="v0.1.0")
    assert (plan.installed, plan.conflicts) == ("v0.1.0", [])
    assert "cvat_function/core/old.py" in plan.removed
    assert (user / "cvat_function" / "__init__.py").read_text() == V2["cvat_function/__init__.py"]
    assert (user / "model_handler.py").read_text() == USER_FILES["model_handler.py"]


def test_a_release_that_claims_a_room_file_is_refused(tmp_path: Path, user: Path) -> None:
    release = tmp_path / "release"
    write_tree(release, {**V2, up.MANIFEST: MANIFEST_V1 + "model_handler.py\n"})
    with pytest.raises(UpgradeError, match=r"lists model_handler\.py, which is the user's"):
        up.upgrade(user, str(release), base=str(release))
    assert (user / "model_handler.py").read_text() == USER_FILES["model_handler.py"]


def test_a_wheel_upgrades_the_package_only(tmp_path: Path, template: Path, user: Path) -> None:
    up.upgrade(user, str(template), ref="v2.0.0")
    wheel = tmp_path / "cvat_function-3.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in V2.items():
            if path.startswith("cvat_function/"):
                archive.writestr(path, text.replace("2.0.0", "3.0.0").replace("RUNTIME = 2", "RUNTIME = 3"))
        archive.writestr("cvat_function-3.0.0.dist-info/METADATA", "Name: cvat-function\n")
    plan = up.upgrade(user, str(wheel))
    assert plan.updated == ["cvat_function/__init__.py", "cvat_function/core/runtime.py"]
    assert plan.removed == []  # scripts/ and docs/ are not in a wheel, and not removed for that
    lock = json.loads((user / LOCK).read_text())
    assert lock["version"] == "3.0.0"
    assert "scripts/deploy.sh" in lock["files"]
    assert (user / "scripts" / "deploy.sh").read_text() == V2["scripts/deploy.sh"]


def test_this_repository_manifest_lists_existing_files_and_never_the_room() -> None:
    entries = up.parse_manifest((REPO / up.MANIFEST).read_text(), up.MANIFEST)
    for entry in entries:
        assert (REPO / entry.rstrip("/")).exists(), f"{up.MANIFEST} lists {entry}, which is not in the repository"
    release = up.read_folder(REPO)
    import cvat_function

    assert release.version == cvat_function.__version__
    assert not [p for p in release.files if p in up.ROOM or p.startswith("examples/")]
    assert {"cvat_function/core/runtime.py", "main.py", "scripts/deploy.sh", "Dockerfile"} <= set(release.files)
