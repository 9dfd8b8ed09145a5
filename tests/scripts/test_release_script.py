"""scripts/release.sh, the release workflow's decisions, against a fake GitHub API and registry.

Each test plays the jobs of .github/workflows/release.yml in the order GitHub runs them (draft,
upload from bench, publish, cleanup when something failed), with the values the workflow passes
(the draft job's release_id output, GITHUB_SHA, the tag), and then reads the fake's state: which
releases, tags and image tags exist, and which calls were made. The rule under test: a published
release is never deleted, only this run's draft is, and the tag only while it points at this run's
commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "release.sh"
FAKE = Path(__file__).resolve().parent / "fake_github.py"

# every test runs the script several times, each spawning a few fake gh processes
pytestmark = pytest.mark.slow

OWNER_REPO = "acme/cvat-fn"
IMAGE = "ghcr.io/acme/cvat-fn"
TAG = "v1.2.0"
SHA = "a" * 40
OTHER_SHA = "b" * 40
DIGEST = "sha256:" + "c" * 64


class World:
    """The fake GitHub repository and registry one release run sees."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        for tool in ("gh", "docker"):
            wrapper = self.bin / tool
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{FAKE}" {tool} "$@"\n', encoding="utf-8")
            wrapper.chmod(0o755)
        self.state_path = root / "state.json"
        self.log_path = root / "calls.jsonl"
        self.log_path.touch()
        self.write(
            {
                "repo": OWNER_REPO,
                "default_branch_sha": "d" * 40,
                "refs": {TAG: {"type": "commit", "sha": SHA}},
                "tag_objects": {},
                "releases": [],
                "next_id": 1000,
                "images": {f"{IMAGE}:sha-{SHA}": DIGEST, f"{IMAGE}:sha-{SHA}-gpu": DIGEST.replace("c", "e")},
                "fail": [],
                "docker_fail": [],
            }
        )
        self.outputs: dict[str, str] = {}

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        return loaded

    def write(self, state: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state), encoding="utf-8")

    def change(self, **values: Any) -> None:
        state = self.state()
        state.update(values)
        self.write(state)

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text(encoding="utf-8").splitlines()]

    def mutations(self) -> list[tuple[str, str]]:
        return [(c["method"], c["path"]) for c in self.calls() if c["tool"] == "gh" and c["method"] != "GET"]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        output = self.root / "github_output"
        output.write_text("", encoding="utf-8")
        summary = self.root / "step_summary"
        values = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.root),
            "FAKE_GITHUB_STATE": str(self.state_path),
            "FAKE_GITHUB_LOG": str(self.log_path),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GH_REPO": OWNER_REPO,
            "TAG": TAG,
            "GITHUB_SHA": SHA,
            "IMAGE": IMAGE,
            **env,
        }
        result = subprocess.run(
            ["bash", str(SCRIPT), *args], env=values, capture_output=True, text=True, check=False, timeout=60
        )
        self.outputs = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())
        return result

    # the workflow's jobs

    def draft(self) -> str:
        result = self.run("draft")
        assert result.returncode == 0, result.stderr
        return self.outputs["release_id"]

    def upload(self, release_id: str) -> subprocess.CompletedProcess[str]:
        report = self.root / f"benchmark-{TAG}.txt"
        report.write_text("p50 12 ms\n", encoding="utf-8")
        return self.run("upload", str(report), RELEASE_ID=release_id)

    def publish(self, release_id: str) -> subprocess.CompletedProcess[str]:
        return self.run("publish", "cpu", "gpu", RELEASE_ID=release_id)

    def cleanup(self, release_id: str, version_tags: str = "") -> subprocess.CompletedProcess[str]:
        return self.run("cleanup", RELEASE_ID=release_id, VERSION_TAGS=version_tags)

    def release(self, release_id: str) -> dict[str, Any] | None:
        return next((r for r in self.state()["releases"] if str(r["id"]) == release_id), None)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def published_release(world: World) -> str:
    release_id = world.draft()
    assert world.upload(release_id).returncode == 0
    result = world.publish(release_id)
    assert result.returncode == 0, result.stderr
    return release_id


# --- success ------------------------------------------------------------------------------


def test_success_drafts_attaches_tags_images_then_publishes(world: World) -> None:
    release_id = published_release(world)
    release = world.release(release_id)
    assert release is not None
    assert release["draft"] is False
    assert [a["name"] for a in release["assets"]] == [f"benchmark-{TAG}.txt"]
    images = world.state()["images"]
    assert images[f"{IMAGE}:{TAG}"] == images[f"{IMAGE}:sha-{SHA}"]
    assert images[f"{IMAGE}:{TAG}-gpu"] == images[f"{IMAGE}:sha-{SHA}-gpu"]
    assert world.state()["refs"][TAG]["sha"] == SHA
    assert not [m for m in world.mutations() if m[0] == "DELETE"]
    # images are tagged before the release goes public: a published release always has its images
    order = [c.get("tag") or c["method"] for c in world.calls() if c.get("tool") == "docker" or c["method"] == "PATCH"]
    assert order == [f"{IMAGE}:{TAG}", f"{IMAGE}:{TAG}-gpu", "PATCH"]


def test_draft_is_created_by_id_on_the_tested_commit(world: World) -> None:
    release_id = world.draft()
    assert release_id.isdigit()
    post = next(c for c in world.calls() if c["method"] == "POST")
    assert post["fields"]["tag_name"] == TAG
    assert post["fields"]["target_commitish"] == SHA
    assert post["fields"]["draft"] is True


def test_annotated_tag_is_followed_to_its_commit(world: World) -> None:
    tag_object = "f" * 40
    world.change(
        refs={TAG: {"type": "tag", "sha": tag_object}}, tag_objects={tag_object: {"type": "commit", "sha": SHA}}
    )
    release_id = world.draft()
    result = world.cleanup(release_id)
    assert result.returncode == 0, result.stderr
    assert TAG not in world.state()["refs"]


# --- a failure in each job -----------------------------------------------------------------


@pytest.mark.parametrize("failed_job", ["ci", "image", "smoke"])
def test_failure_after_draft_deletes_only_that_draft_and_the_tag(world: World, failed_job: str) -> None:
    other = world.state()
    other["releases"].append({"id": 7, "tag_name": "v1.1.0", "name": "v1.1.0", "draft": False, "assets": []})
    other["refs"]["v1.1.0"] = {"type": "commit", "sha": "1" * 40}
    world.write(other)
    release_id = world.draft()
    result = world.cleanup(release_id)  # what runs after `failed_job` failed: publish never started
    assert result.returncode == 0, result.stderr
    assert world.release(release_id) is None
    assert TAG not in world.state()["refs"]
    assert world.release("7") is not None, "an older release is never touched"
    assert "v1.1.0" in world.state()["refs"]
    assert world.mutations()[-2:] == [
        ("DELETE", f"repos/{OWNER_REPO}/releases/{release_id}"),
        ("DELETE", f"repos/{OWNER_REPO}/git/refs/tags/{TAG}"),
    ]


def test_failure_in_bench_upload_then_cleanup(world: World) -> None:
    release_id = world.draft()
    world.change(fail=["POST releases/[0-9]+/assets"])
    result = world.upload(release_id)
    assert result.returncode == 1
    assert "uploading benchmark-v1.2.0.txt" in result.stderr
    assert world.cleanup(release_id).returncode == 0
    assert world.state()["releases"] == []
    assert TAG not in world.state()["refs"]


def test_rerun_of_bench_replaces_its_own_upload(world: World) -> None:
    release_id = world.draft()
    assert world.upload(release_id).returncode == 0
    result = world.upload(release_id)
    assert result.returncode == 0, result.stderr
    release = world.release(release_id)
    assert release is not None
    assert [a["name"] for a in release["assets"]] == [f"benchmark-{TAG}.txt"]


def test_failure_in_draft_deletes_nothing(world: World) -> None:
    world.change(fail=["POST releases$"])
    result = world.run("draft")
    assert result.returncode == 1
    assert "nothing created" in result.stderr
    assert "release_id" not in world.outputs
    cleanup = world.cleanup("")  # needs.draft.outputs.release_id is empty
    assert cleanup.returncode == 0
    assert "nothing to delete" in cleanup.stderr
    assert world.state()["refs"][TAG]["sha"] == SHA
    assert [m for m in world.mutations() if m[0] == "DELETE"] == []


def test_draft_refuses_a_tag_that_is_gone(world: World) -> None:
    world.change(refs={})
    result = world.run("draft")
    assert result.returncode == 1
    assert "does not exist any more" in result.stderr
    assert world.mutations() == []


@pytest.mark.parametrize("bad_tag", ["v1+build", "v1#x", "-v1", "v" + "1" * 128])
def test_draft_refuses_a_tag_that_cannot_name_an_image(world: World, bad_tag: str) -> None:
    result = world.run("draft", TAG=bad_tag)
    assert result.returncode == 1
    assert "cannot name an image" in result.stderr
    assert world.calls() == []


def test_publish_fails_on_the_gpu_tag_and_says_what_is_left(world: World) -> None:
    release_id = world.draft()
    world.change(docker_fail=[r"v1\.2\.0-gpu$"])
    result = world.publish(release_id)
    assert result.returncode == 1
    assert f"::warning::publish failed after tagging: image {IMAGE}:{TAG} exists" in result.stdout
    assert f"{IMAGE}:{TAG}-gpu exists" not in result.stdout
    assert f"- `{IMAGE}:{TAG}`" in (world.root / "step_summary").read_text(encoding="utf-8")
    assert world.outputs["version_tags"] == f"{IMAGE}:{TAG} {IMAGE}:{TAG}-gpu"
    release = world.release(release_id)
    assert release is not None
    assert release["draft"] is True
    cleanup = world.cleanup(release_id, world.outputs["version_tags"])
    assert cleanup.returncode == 0
    assert world.release(release_id) is None
    assert "::warning::the publish job may have added these image tags before it failed" in cleanup.stdout


def test_publish_fails_on_the_release_after_both_tags_and_names_both(world: World) -> None:
    release_id = world.draft()
    world.change(fail=["PATCH releases/"])
    result = world.publish(release_id)
    assert result.returncode == 1
    assert "publishing release" in result.stderr
    for suffix in ("", "-gpu"):
        assert f"image {IMAGE}:{TAG}{suffix} exists although release {TAG} is not published" in result.stdout
        assert f"(a copy of {IMAGE}:sha-{SHA}{suffix})" in result.stdout
    assert world.cleanup(release_id).returncode == 0
    assert world.state()["releases"] == []


def test_cancelled_publish_leaves_a_published_release_alone(world: World) -> None:
    release_id = published_release(world)
    result = world.cleanup(release_id)  # cancelled() after publish finished
    assert result.returncode == 0
    assert "is published: it and its tag are left as they are" in result.stderr
    assert world.release(release_id) is not None
    assert world.state()["refs"][TAG]["sha"] == SHA


# --- re-runs --------------------------------------------------------------------------------


def test_rerun_of_all_jobs_after_success_destroys_nothing(world: World) -> None:
    published_release(world)
    before = world.state()
    again = world.run("draft")
    assert again.returncode == 1
    assert "already published" in again.stderr
    assert world.cleanup("").returncode == 0  # the new attempt's draft wrote no id
    assert world.state() == before


def test_rerun_of_publish_or_cleanup_with_the_old_id_destroys_nothing(world: World) -> None:
    release_id = published_release(world)
    before = world.state()
    calls = len(world.calls())
    again = world.publish(release_id)
    assert again.returncode == 0
    assert "already published" in again.stderr
    assert not [c for c in world.calls()[calls:] if c["tool"] == "docker"]
    assert world.cleanup(release_id).returncode == 0
    assert world.state() == before


def test_rerun_of_failed_jobs_after_cleanup_does_not_publish_a_deleted_draft(world: World) -> None:
    release_id = world.draft()
    assert world.cleanup(release_id).returncode == 0
    result = world.publish(release_id)
    assert result.returncode == 1
    assert "no longer exists" in result.stderr
    assert not [c for c in world.calls() if c["tool"] == "docker"]
    assert world.cleanup(release_id).returncode == 0


# --- the tag pushed again ---------------------------------------------------------------------


def move_tag(world: World) -> None:
    world.change(refs={TAG: {"type": "commit", "sha": OTHER_SHA}})


def test_repushed_tag_cleanup_deletes_own_draft_but_keeps_the_new_tag(world: World) -> None:
    release_id = world.draft()
    move_tag(world)
    result = world.cleanup(release_id)
    assert result.returncode == 0
    assert world.release(release_id) is None
    assert world.state()["refs"][TAG]["sha"] == OTHER_SHA
    assert "pushed again" in result.stderr


def test_repushed_tag_the_old_run_does_not_publish(world: World) -> None:
    release_id = world.draft()
    move_tag(world)
    result = world.publish(release_id)
    assert result.returncode == 1
    assert "not publishing" in result.stderr
    assert not [c for c in world.calls() if c["tool"] == "docker"]


def test_repushed_tag_the_old_runs_draft_creates_nothing(world: World) -> None:
    move_tag(world)
    result = world.run("draft")
    assert result.returncode == 1
    assert "pushed again" in result.stderr
    assert world.mutations() == []


def test_old_run_cleanup_after_the_new_push_was_released(world: World) -> None:
    old_id = world.draft()
    move_tag(world)
    new_id = world.run("draft", GITHUB_SHA=OTHER_SHA)
    assert new_id.returncode == 0
    new_release = world.outputs["release_id"]
    assert world.run("publish", "cpu", RELEASE_ID=new_release, GITHUB_SHA=OTHER_SHA).returncode != 0  # no image
    world.change(images={**world.state()["images"], f"{IMAGE}:sha-{OTHER_SHA}": DIGEST})
    assert world.run("publish", "cpu", RELEASE_ID=new_release, GITHUB_SHA=OTHER_SHA).returncode == 0
    assert world.cleanup(old_id).returncode == 0
    assert world.cleanup(new_release).returncode == 0  # even handed the new id by mistake
    new = world.release(new_release)
    assert new is not None
    assert new["draft"] is False
    assert world.state()["refs"][TAG]["sha"] == OTHER_SHA


def test_cleanup_keeps_a_tag_that_carries_a_published_release(world: World) -> None:
    state = world.state()
    state["releases"].append({"id": 5, "tag_name": TAG, "name": TAG, "draft": False, "assets": []})
    world.write(state)
    stray = world.run("cleanup", RELEASE_ID="5")
    assert stray.returncode == 0
    state = world.state()
    state["releases"].append({"id": 6, "tag_name": TAG, "name": TAG, "draft": True, "assets": []})
    world.write(state)
    result = world.cleanup("6")
    assert result.returncode == 0
    assert "carries published release 5" in result.stderr
    assert world.release("5") is not None
    assert world.state()["refs"][TAG]["sha"] == SHA


def test_cleanup_refuses_a_release_of_another_tag(world: World) -> None:
    state = world.state()
    state["releases"].append({"id": 9, "tag_name": "v0.9.0", "name": "v0.9.0", "draft": True, "assets": []})
    world.write(state)
    result = world.cleanup("9")
    assert result.returncode == 1
    assert "not touching it" in result.stderr
    assert world.release("9") is not None


def test_cleanup_reports_a_tag_it_may_not_delete(world: World) -> None:
    release_id = world.draft()
    world.change(fail=["DELETE git/refs/tags/"])
    result = world.cleanup(release_id)
    assert result.returncode == 1
    assert "git push --delete origin v1.2.0" in result.stderr
    assert world.release(release_id) is None


# --- outputs and escaping ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["evil\nrelease_id=1", "evil\rx", "a\n"])
def test_output_with_a_line_break_is_refused(world: World, value: str) -> None:
    result = world.run("output", "function", value)
    assert result.returncode == 1
    assert "contains a line break" in result.stderr
    assert world.outputs == {}


def test_output_writes_one_line(world: World) -> None:
    result = world.run("output", "function", "pth-acme-yolo")
    assert result.returncode == 0
    assert world.outputs == {"function": "pth-acme-yolo"}
    assert world.run("output", "Bad-Name", "x").returncode == 1


def test_release_id_must_be_digits(world: World) -> None:
    result = world.cleanup("1/../../git/refs/tags/v1.2.0")
    assert result.returncode == 1
    assert "is not a release id" in result.stderr
    assert world.calls() == []


@pytest.mark.parametrize(
    ("text", "encoded"),
    [("v1.2.0", "v1.2.0"), ("v1+rc", "v1%2Brc"), ("v1#x", "v1%23x"), ("a b/%?", "a%20b%2F%25%3F"), ("é", "%C3%A9")],
)
def test_urlencode(world: World, text: str, encoded: str) -> None:
    result = world.run("urlencode", text)
    assert result.stdout == encoded + "\n"


def test_cleanup_escapes_the_tag_in_api_paths(world: World) -> None:
    tag = "v1+rc#1"
    world.change(
        refs={tag: {"type": "commit", "sha": SHA}},
        releases=[{"id": 3, "tag_name": tag, "name": tag, "draft": True, "assets": []}],
    )
    result = world.run("cleanup", TAG=tag, RELEASE_ID="3")
    assert result.returncode == 0, result.stderr
    assert world.state()["refs"] == {}
    paths = [c["path"] for c in world.calls()]
    assert f"repos/{OWNER_REPO}/git/refs/tags/v1%2Brc%231" in paths
    assert all("#" not in p and "+" not in p for p in paths)
