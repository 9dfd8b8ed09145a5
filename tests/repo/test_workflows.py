"""Consistency of the GitHub workflows with the repository (pure Python + PyYAML).

GitHub only reports a wrong ``needs:``, a missing script or make target, or a Nuclio
version drift when a release is already running. These checks read the repository at
test time and fail first; the negative tests feed each checker a broken workflow to show
that it catches the problem rather than passing by accident.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))

Workflow = dict[str, Any]

# --- helpers --------------------------------------------------------------------------


def load(path: Path) -> Workflow:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path.name} is not a mapping"
    return loaded


def triggers(workflow: Workflow) -> Any:
    """PyYAML reads the bare key ``on`` as the boolean True."""
    loose: dict[Any, Any] = workflow
    return loose.get("on", loose.get(True))


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def strings_in(value: Any) -> Iterator[str]:
    """Every string anywhere inside a job (if:, env:, run:, with: ...)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def run_commands(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """(job id, run: text) for every step."""
    for job_id, job in workflow.get("jobs", {}).items():
        for step in job.get("steps", []):
            if "run" in step:
                yield job_id, str(step["run"])


# --- checkers (return a list of problems; empty means fine) ---------------------------

_NEEDS_REF = re.compile(r"\bneeds\.([A-Za-z_][\w-]*)")


def job_reference_problems(workflow: Workflow) -> list[str]:
    """needs: names existing jobs; each needs.<job> in an expression is in needs."""
    jobs: dict[str, Any] = workflow.get("jobs", {})
    problems = []
    for job_id, job in jobs.items():
        needs = needs_of(job)
        for name in needs:
            if name not in jobs:
                problems.append(f"job {job_id}: needs '{name}', which is not a job")
            if name == job_id:
                problems.append(f"job {job_id}: needs itself")
        for text in strings_in(job):
            for name in _NEEDS_REF.findall(text):
                if name not in jobs:
                    problems.append(f"job {job_id}: refers to needs.{name}, which is not a job")
                elif name not in needs:
                    problems.append(f"job {job_id}: refers to needs.{name} without needing it")
    return problems


_SCRIPT = re.compile(r"(?<![\w/.-])(scripts/[\w./-]+)")
_CLI_VERB = re.compile(r"-m\s+cvat_function\s+([a-z][\w-]*)")
_MAKE = re.compile(r"(?:^|[;&|(]\s*|\s)make\s+((?:[\w.-]+\s*)+)", re.MULTILINE)


def referenced_scripts(commands: Iterable[str]) -> set[str]:
    return {m for text in commands for m in _SCRIPT.findall(text)}


def referenced_verbs(commands: Iterable[str]) -> set[str]:
    return {m for text in commands for m in _CLI_VERB.findall(text)}


def referenced_make_targets(commands: Iterable[str]) -> set[str]:
    targets: set[str] = set()
    for text in commands:
        for group in _MAKE.findall(text):
            targets.update(t for t in group.split() if not t.startswith("-") and "=" not in t)
    return targets


def makefile_targets(text: str) -> set[str]:
    """Targets defined by rules (``name: ...``), ignoring variable assignments."""
    targets: set[str] = set()
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_./$()-][^:=#\s]*(?:\s+[^:=#\s]+)*)\s*::?(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return targets - {".PHONY"}


def missing_files(paths: Iterable[str], root: Path) -> list[str]:
    return sorted(p for p in paths if not (root / p).is_file())


def local_reusable_workflow_problems(workflow: Workflow, root: Path) -> list[str]:
    problems = []
    for job_id, job in workflow.get("jobs", {}).items():
        uses = job.get("uses", "")
        if uses.startswith("./") and not (root / uses).is_file():
            problems.append(f"job {job_id}: calls {uses}, which does not exist")
    return problems


def cleanup_problems(workflow: Workflow, cleanup_job: str = "cleanup") -> list[str]:
    """The cleanup job needs every other job and runs on failure or cancellation."""
    jobs: dict[str, Any] = workflow.get("jobs", {})
    if cleanup_job not in jobs:
        return [f"no '{cleanup_job}' job"]
    job = jobs[cleanup_job]
    problems = []
    missing = sorted(set(jobs) - {cleanup_job} - set(needs_of(job)))
    if missing:
        problems.append(f"{cleanup_job} does not need: {', '.join(missing)}")
    condition = str(job.get("if", "")).replace(" ", "")
    if condition not in {"${{failure()||cancelled()}}", "failure()||cancelled()"}:
        problems.append(f"{cleanup_job} runs if {job.get('if')!r}, not failure() || cancelled()")
    return problems


_VERSION_PATTERNS = [
    re.compile(r"NUCLIO_VERSION(?:=|:-|:\s*)\"?(\d+\.\d+\.\d+)"),
    re.compile(r"nuclio/(?:dashboard|processor|handler-builder-[\w-]+):(\d+\.\d+\.\d+)"),
    re.compile(r"nuctl-(\d+\.\d+\.\d+)-"),
    re.compile(r"nuclio/releases/download/(\d+\.\d+\.\d+)/"),
]


def nuclio_versions(files: Iterable[Path]) -> dict[str, set[str]]:
    """Every pinned Nuclio version, by file relative to the repo."""
    found: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        versions = {v for pattern in _VERSION_PATTERNS for v in pattern.findall(text)}
        if versions:
            found[str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)] = versions
    return found


_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def hygiene_problems(workflow: Workflow, text: str) -> list[str]:
    """Least privilege, SHA pins with version comments, no persisted token, timeouts."""
    problems = []
    if workflow.get("permissions") not in ({}, {"contents": "read"}):
        problems.append(f"top-level permissions are {workflow.get('permissions')!r}")
    if "concurrency" not in workflow:
        problems.append("no concurrency group")
    for job_id, job in workflow.get("jobs", {}).items():
        if "permissions" not in job:
            problems.append(f"job {job_id}: no permissions block")
        if "steps" in job and "timeout-minutes" not in job:
            problems.append(f"job {job_id}: no timeout-minutes")
        for step in job.get("steps", []):
            uses = step.get("uses")
            if uses is None:
                continue
            if not _PINNED.match(uses):
                problems.append(f"job {job_id}: {uses} is not pinned to a commit SHA")
            elif not re.search(re.escape(uses) + r"\s+#\s*v\d", text):
                problems.append(f"job {job_id}: {uses} has no '# vX' version comment")
            if uses.startswith("actions/checkout@") and (step.get("with", {}).get("persist-credentials") is not False):
                problems.append(f"job {job_id}: checkout without persist-credentials: false")
    return problems


_INJECTION = re.compile(r"\$\{\{")


def injection_problems(workflow: Workflow) -> list[str]:
    """No ${{ }} inside run: (values go through env:)."""
    return [
        f"job {job_id}: run: interpolates ${{{{ }}}} directly"
        for job_id, text in run_commands(workflow)
        if _INJECTION.search(text)
    ]


_OUTPUT_WRITE = re.compile(r">>\s*\"?\$\{?GITHUB_OUTPUT")


def output_write_problems(workflow: Workflow) -> list[str]:
    """Outputs go through `scripts/release.sh output`, which refuses a value with a line break."""
    return [
        f"job {job_id}: run: appends to $GITHUB_OUTPUT directly"
        for job_id, text in run_commands(workflow)
        if _OUTPUT_WRITE.search(text)
    ]


_BY_TAG_NAME = re.compile(r"gh\s+release\s+(delete|edit|upload|create)\b|--cleanup-tag")


def release_by_name_problems(workflow: Workflow) -> list[str]:
    """`gh release <verb> <tag>` acts on whatever release carries the name now, not on this run's."""
    return [
        f"job {job_id}: acts on a release by its tag name ({match.group(0)})"
        for job_id, text in run_commands(workflow)
        for match in [_BY_TAG_NAME.search(text)]
        if match
    ]


# which jobs may write what: the release's own jobs, and the image pushers
WRITERS = {
    "contents": {"draft", "bench", "publish", "cleanup"},
    "packages": {"image", "publish"},
}


def permission_problems(workflow: Workflow, writers: dict[str, set[str]] = WRITERS) -> list[str]:
    problems = []
    for job_id, job in workflow.get("jobs", {}).items():
        permissions = job.get("permissions", {})
        if not isinstance(permissions, dict):
            problems.append(f"job {job_id}: permissions {permissions!r} is not a mapping")
            continue
        for scope, level in permissions.items():
            if level == "write" and job_id not in writers.get(scope, set()):
                problems.append(f"job {job_id}: {scope}: write is not needed")
    return problems


_USES = re.compile(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s*#\s*(v[\w.]+)")


def pin_consistency_problems(texts: Iterable[str]) -> list[str]:
    """One action, one commit and one version everywhere; one commit never named as two versions."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for text in texts:
        for action, sha, version in _USES.findall(text):
            seen.setdefault(action, set()).add((sha, version))
    return [
        f"{action} is pinned {len(pins)} ways: {sorted(pins)}" for action, pins in sorted(seen.items()) if len(pins) > 1
    ]


def release_id_problems(workflow: Workflow) -> list[str]:
    """draft exposes the id it created; every job that touches the release takes that id."""
    jobs: dict[str, Any] = workflow.get("jobs", {})
    problems = []
    outputs = jobs.get("draft", {}).get("outputs", {})
    if outputs.get("release_id") != "${{ steps.draft.outputs.release_id }}":
        problems.append("draft does not output release_id from its step 'draft'")
    for job_id in ("bench", "publish", "cleanup"):
        steps = jobs.get(job_id, {}).get("steps", [])
        ids = [s.get("env", {}).get("RELEASE_ID") for s in steps if "scripts/release.sh" in str(s.get("run", ""))]
        if not ids or any(i != "${{ needs.draft.outputs.release_id }}" for i in ids):
            problems.append(f"job {job_id}: calls scripts/release.sh without RELEASE_ID from needs.draft")
    return problems


# --- the repository's workflows -------------------------------------------------------


def all_run_commands() -> list[str]:
    return [text for path in WORKFLOW_FILES for _, text in run_commands(load(path))]


def test_both_workflows_exist_with_their_triggers() -> None:
    names = {p.name for p in WORKFLOW_FILES}
    assert {"ci.yml", "release.yml"} <= names
    ci = triggers(load(WORKFLOWS / "ci.yml"))
    assert {"push", "pull_request"} <= set(ci)
    release = triggers(load(WORKFLOWS / "release.yml"))
    assert release == {"push": {"tags": ["v*"]}}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_needs_and_if_name_existing_jobs(path: Path) -> None:
    assert job_reference_problems(load(path)) == []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_least_privilege_pins_and_timeouts(path: Path) -> None:
    assert hygiene_problems(load(path), path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_expression_is_interpolated_into_a_shell(path: Path) -> None:
    assert injection_problems(load(path)) == []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_local_reusable_workflows_exist(path: Path) -> None:
    assert local_reusable_workflow_problems(load(path), REPO) == []


def test_every_script_a_workflow_calls_exists() -> None:
    scripts = referenced_scripts(all_run_commands())
    assert "scripts/deploy.sh" in scripts
    assert missing_files(scripts, REPO) == []


def test_every_make_target_a_workflow_calls_exists() -> None:
    wanted = referenced_make_targets(all_run_commands())
    assert {"test", "lint", "lint-ci"} <= wanted
    defined = makefile_targets((REPO / "Makefile").read_text(encoding="utf-8"))
    assert sorted(wanted - defined) == []


def test_every_cvat_function_verb_a_workflow_calls_exists() -> None:
    verbs = referenced_verbs(all_run_commands())
    assert {"validate", "bench"} <= verbs
    result = subprocess.run(
        [sys.executable, "-m", "cvat_function", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"python -m cvat_function --help failed:\n{result.stderr}"
    missing = sorted(v for v in verbs if not re.search(rf"\b{re.escape(v)}\b", result.stdout))
    assert missing == [], f"verbs not in `python -m cvat_function --help`: {missing}"


def test_release_cleanup_needs_every_job_and_runs_on_failure() -> None:
    assert cleanup_problems(load(WORKFLOWS / "release.yml")) == []


def test_release_publishes_only_after_every_other_job() -> None:
    jobs = load(WORKFLOWS / "release.yml")["jobs"]
    assert set(needs_of(jobs["publish"])) == set(jobs) - {"publish", "cleanup"}


def test_nuclio_version_is_the_same_everywhere() -> None:
    files = [
        REPO / "Dockerfile",
        REPO / "Makefile",
        *sorted((REPO / "scripts").glob("*")),
        *WORKFLOW_FILES,
        *sorted((REPO / "docs").glob("*.md")),
    ]
    found = nuclio_versions(p for p in files if p.is_file())
    assert {"Dockerfile", "scripts/deploy.sh", ".github/workflows/release.yml"} <= set(found)
    distinct = set().union(*found.values())
    assert len(distinct) == 1, f"Nuclio versions differ: {found}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_outputs_go_through_the_checked_writer(path: Path) -> None:
    assert output_write_problems(load(path)) == []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_job_acts_on_a_release_by_its_tag_name(path: Path) -> None:
    assert release_by_name_problems(load(path)) == []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_only_the_jobs_that_need_it_may_write(path: Path) -> None:
    assert permission_problems(load(path)) == []


def test_every_action_is_pinned_the_same_way_everywhere() -> None:
    texts = [p.read_text(encoding="utf-8") for p in WORKFLOW_FILES]
    assert len(_USES.findall("\n".join(texts))) >= 10
    assert pin_consistency_problems(texts) == []


def test_release_jobs_act_on_the_draft_by_id() -> None:
    assert release_id_problems(load(WORKFLOWS / "release.yml")) == []


def test_cleanup_and_publish_scripts_are_the_ones_tested() -> None:
    jobs = load(WORKFLOWS / "release.yml")["jobs"]
    commands = {job_id: " ".join(str(s.get("run", "")) for s in job.get("steps", [])) for job_id, job in jobs.items()}
    assert "scripts/release.sh draft" in commands["draft"]
    assert "scripts/release.sh publish cpu gpu" in commands["publish"]
    assert commands["cleanup"].strip() == "scripts/release.sh cleanup"


# --- negative tests: each checker catches what it is for ------------------------------

BROKEN = """
on: {push: {tags: ["v*"]}}
permissions: {contents: write}
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions: {contents: read}
    steps:
      - uses: actions/checkout@v4
      - run: make tset && scripts/deploy.sh && scripts/nope.sh
      - run: python -m cvat_function frobnicate
      - run: echo "${{ github.ref_name }}"
  smoke:
    needs: [biuld]
    if: needs.build.result == 'success'
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions: {}
    steps:
      - uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97
  caller:
    uses: ./.github/workflows/missing.yml
    permissions: {}
  cleanup:
    needs: [build]
    if: always()
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions: {contents: write}
    steps: [{run: "true"}]
"""


@pytest.fixture
def broken() -> Workflow:
    loaded = yaml.safe_load(BROKEN)
    assert isinstance(loaded, dict)
    return loaded


def test_checker_reports_unknown_needs_and_needs_refs_outside_needs(
    broken: Workflow,
) -> None:
    problems = job_reference_problems(broken)
    assert "job smoke: needs 'biuld', which is not a job" in problems
    assert "job smoke: refers to needs.build without needing it" in problems


def test_checker_reports_missing_scripts_targets_and_verbs(broken: Workflow) -> None:
    commands = [text for _, text in run_commands(broken)]
    assert missing_files(referenced_scripts(commands), REPO) == ["scripts/nope.sh"]
    targets = referenced_make_targets(commands)
    assert "tset" in targets
    assert "tset" not in makefile_targets("test:\n\tpytest\nlint: test\n")
    assert referenced_verbs(commands) == {"frobnicate"}
    assert local_reusable_workflow_problems(broken, REPO) == [
        "job caller: calls ./.github/workflows/missing.yml, which does not exist"
    ]


def test_checker_reports_incomplete_cleanup(broken: Workflow) -> None:
    problems = cleanup_problems(broken)
    assert "cleanup does not need: caller, smoke" in problems
    assert any("not failure() || cancelled()" in p for p in problems)
    assert cleanup_problems({"jobs": {"a": {}}}) == ["no 'cleanup' job"]


def test_checker_reports_hygiene_and_injection(broken: Workflow) -> None:
    problems = hygiene_problems(broken, BROKEN)
    assert "top-level permissions are {'contents': 'write'}" in problems
    assert "no concurrency group" in problems
    assert "job build: no timeout-minutes" in problems
    assert "job build: actions/checkout@v4 is not pinned to a commit SHA" in problems
    assert any("setup-python@" in p and "version comment" in p for p in problems)
    assert "job build: checkout without persist-credentials: false" in problems
    assert injection_problems(broken) == ["job build: run: interpolates ${{ }} directly"]


def test_checker_reports_a_nuclio_version_drift(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG NUCLIO_VERSION=1.16.3\n")
    script = tmp_path / "deploy.sh"
    script.write_text('NUCLIO_VERSION="${NUCLIO_VERSION:-1.15.9}"\n')
    workflow = tmp_path / "release.yml"
    workflow.write_text('env:\n  NUCLIO_VERSION: "1.16.3"\nrun: quay.io/nuclio/dashboard:1.13.0-amd64\n')
    found = nuclio_versions([dockerfile, script, workflow])
    assert found == {
        str(dockerfile): {"1.16.3"},
        str(script): {"1.15.9"},
        str(workflow): {"1.16.3", "1.13.0"},
    }


def test_makefile_parser_ignores_variables_and_recipes() -> None:
    text = "VENV ?= .venv\nX := 1\n.PHONY: a b\na: b\n\techo c: d\nb c:\n\ttrue\n"
    assert makefile_targets(text) == {"a", "b", "c"}


def test_checker_reports_output_writes_release_names_and_write_permissions() -> None:
    workflow = {
        "jobs": {
            "smoke": {
                "permissions": {"contents": "write"},
                "steps": [{"run": 'echo "name=$NAME" >> "$GITHUB_OUTPUT"'}, {"run": "gh release delete v1 --yes"}],
            },
            "cleanup": {"permissions": {"contents": "write"}, "steps": [{"run": 'gh release edit "$TAG"'}]},
        }
    }
    assert output_write_problems(workflow) == ["job smoke: run: appends to $GITHUB_OUTPUT directly"]
    assert release_by_name_problems(workflow) == [
        "job smoke: acts on a release by its tag name (gh release delete)",
        "job cleanup: acts on a release by its tag name (gh release edit)",
    ]
    assert permission_problems(workflow) == ["job smoke: contents: write is not needed"]
    assert release_id_problems(workflow) == [
        "draft does not output release_id from its step 'draft'",
        "job bench: calls scripts/release.sh without RELEASE_ID from needs.draft",
        "job publish: calls scripts/release.sh without RELEASE_ID from needs.draft",
        "job cleanup: calls scripts/release.sh without RELEASE_ID from needs.draft",
    ]


def test_checker_reports_an_action_pinned_two_ways() -> None:
    one = "uses: actions/checkout@" + "1" * 40 + " # v7.0.1\n"
    other = "uses: actions/checkout@" + "2" * 40 + " # v7.0.1\n"
    assert pin_consistency_problems([one, one]) == []
    problems = pin_consistency_problems([one, other])
    assert len(problems) == 1
    assert problems[0].startswith("actions/checkout is pinned 2 ways")
