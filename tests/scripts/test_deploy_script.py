"""scripts/deploy.sh against fake nuctl and docker executables that log their arguments.

No Docker or Nuclio is needed: the fakes answer like nuctl 1.16.3 and a dashboard
container, so these tests check the script's decisions (flags, yaml patching, version
check, port), not Nuclio itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "deploy.sh"

FUNCTION_YAML = """\
metadata:
  name: fake-detector
  annotations:
    name: "Fake"
    type: "detector"
    spec: |
      [{"id": 0, "name": "face", "type": "rectangle"}]
spec:
  description: "fake"
  runtime: "python:3.12"
  handler: main:handler
  build:
    image: cvat.fake.detector
    baseImage: python:3.12-slim-bookworm
  platform:
    attributes:
      restartPolicy: {name: always, maximumRetryCount: 3}
      mountMode: volume
"""

FAKE_NUCTL = """\
#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG/nuctl.log"
case "$1" in
  version)
    echo 'Client version:'
    echo "\\"Label: ${FAKE_NUCTL_VERSION}, Git commit: x\\"" ;;
  get)
    if [[ "$2" == project ]]; then exit 1; fi
    echo '{"status": {"state": "ready", "httpPort": 32768}}' ;;
  deploy)
    for arg in "$@"; do
      if [[ "$prev" == --file ]]; then cp "$arg" "$FAKE_LOG/deployed.yaml"; fi
      if [[ "$prev" == --path ]]; then (cd "$arg" && find . -type f | sort > "$FAKE_LOG/staged.txt"); fi
      prev="$arg"
    done
    echo "nuctl deploy output" ;;
esac
"""

FAKE_DOCKER = """\
#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG/docker.log"
case "$1" in
  info) exit 0 ;;
  ps) echo "quay.io/nuclio/dashboard:${FAKE_DASHBOARD_VERSION}-amd64" ;;
  network) [[ "$3" == cvat_cvat && -n "$FAKE_HAS_CVAT_NETWORK" ]] ;;
  logs) echo "fake container log" ;;
esac
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("nuctl", FAKE_NUCTL), ("docker", FAKE_DOCKER)):
        path = bin_dir / name
        path.write_text(body)
        path.chmod(0o755)
    log = tmp_path / "log"
    log.mkdir()
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_NUCTL_VERSION": "1.16.3",
        "FAKE_DASHBOARD_VERSION": "1.16.3",
        "FAKE_HAS_CVAT_NETWORK": "1",
        "PYTHON": sys.executable,
        "HOME": str(tmp_path),
    }


@pytest.fixture
def function_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "function.yaml").write_text(FUNCTION_YAML)
    (folder / "function-gpu.yaml").write_text(FUNCTION_YAML.replace("fake-detector", "fake-gpu"))
    for name in ("main.py", "model_handler.py", "tests/test_fn.py", "README.md", "__pycache__/main.cpython-312.pyc"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("# fake\n")
    return folder


def staged(env: dict[str, str]) -> list[str]:
    return (Path(env["FAKE_LOG"]) / "staged.txt").read_text().split()


def deploy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("bash"), "bash is needed to run deploy.sh"
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def nuctl_calls(env: dict[str, str]) -> list[str]:
    return (Path(env["FAKE_LOG"]) / "nuctl.log").read_text().splitlines()


def deployed_yaml(env: dict[str, str]) -> dict[str, object]:
    loaded = yaml.safe_load((Path(env["FAKE_LOG"]) / "deployed.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_source_deploy_creates_project_joins_cvat_network_and_prints_only_the_port(
    env: dict[str, str], function_dir: Path
) -> None:
    result = deploy(env, "--dir", str(function_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "32768\n"
    calls = nuctl_calls(env)
    assert "create project cvat --platform local" in calls
    (deploy_call,) = [c for c in calls if c.startswith("deploy ")]
    assert deploy_call.startswith("deploy fake-detector --platform local --project-name cvat")
    assert "--path " in deploy_call
    files = staged(env)
    assert {"./main.py", "./model_handler.py", "./function.yaml", "./function-gpu.yaml"} <= set(files)
    assert "./requirements.txt" in files  # the repository's, since the folder has none
    assert "./cvat_function/core/runtime.py" in files  # the framework, since the folder has none
    assert not [f for f in files if f.startswith(("./tests", "./README", "./.venv")) or "__pycache__" in f]
    assert "--run-image" not in deploy_call
    spec = deployed_yaml(env)["spec"]
    assert isinstance(spec, dict)
    assert spec["build"]["image"] == "cvat.fake.detector"
    assert spec["platform"]["attributes"] == {
        "restartPolicy": {"name": "always", "maximumRetryCount": 3},
        "mountMode": "volume",
        "network": "cvat_cvat",
    }


def test_image_deploy_drops_build_section_so_nuctl_does_not_rebuild(env: dict[str, str], function_dir: Path) -> None:
    result = deploy(env, "--dir", str(function_dir), "--image", "ghcr.io/acme/fn:v1")
    assert result.returncode == 0, result.stderr
    (deploy_call,) = [c for c in nuctl_calls(env) if c.startswith("deploy ")]
    assert "--run-image ghcr.io/acme/fn:v1 --runtime python:3.12 --handler main:handler" in (deploy_call)
    assert "--path" not in deploy_call
    config = deployed_yaml(env)
    spec = config["spec"]
    assert isinstance(spec, dict)
    assert "build" not in spec
    assert spec["image"] == "ghcr.io/acme/fn:v1"
    metadata = config["metadata"]
    assert isinstance(metadata, dict)
    assert json.loads(metadata["annotations"]["spec"])[0]["name"] == "face"


def test_gpu_flag_uses_function_gpu_yaml(env: dict[str, str], function_dir: Path) -> None:
    result = deploy(env, "--dir", str(function_dir), "--gpu")
    assert result.returncode == 0, result.stderr
    (deploy_call,) = [c for c in nuctl_calls(env) if c.startswith("deploy ")]
    assert deploy_call.startswith("deploy fake-gpu ")
    assert "function-gpu.yaml" in deploy_call


def test_no_cvat_network_means_no_network_attribute(env: dict[str, str], function_dir: Path) -> None:
    env["FAKE_HAS_CVAT_NETWORK"] = ""
    result = deploy(env, "--dir", str(function_dir))
    assert result.returncode == 0, result.stderr
    spec = deployed_yaml(env)["spec"]
    assert isinstance(spec, dict)
    assert "network" not in spec["platform"]["attributes"]


def test_nuctl_not_matching_the_dashboard_stops_before_deploying(env: dict[str, str], function_dir: Path) -> None:
    env["FAKE_NUCTL_VERSION"] = "1.13.0"
    result = deploy(env, "--dir", str(function_dir))
    assert result.returncode != 0
    assert "nuctl is 1.13.0 but the dashboard" in result.stderr
    assert not any(c.startswith("deploy ") for c in nuctl_calls(env))


def test_missing_nuctl_explains_how_to_install_the_pinned_version(env: dict[str, str], function_dir: Path) -> None:
    env["NUCTL"] = "nuctl-that-does-not-exist"
    result = deploy(env, "--dir", str(function_dir))
    assert result.returncode != 0
    assert "releases/download/1.16.3/nuctl-1.16.3-linux-amd64" in result.stderr


def test_unknown_option_is_rejected(env: dict[str, str]) -> None:
    result = deploy(env, "--frobnicate")
    assert result.returncode != 0
    assert "unknown option: --frobnicate" in result.stderr


def test_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, textwrap.indent(result.stderr, "  ")


def image_framework_files() -> set[str]:
    """What cvat_function/image-files.txt says the image gets of the framework, as file paths."""
    found: set[str] = set()
    for line in (REPO / "cvat_function" / "image-files.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        path = REPO / line.strip()
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        found |= {str(p.relative_to(REPO)) for p in files if "__pycache__" not in p.parts}
    return found


def framework_part(files: list[str] | set[str]) -> set[str]:
    return {f.removeprefix("./") for f in files if f.removeprefix("./").startswith("cvat_function/")}


def test_a_source_deploy_of_the_repository_ships_the_function_and_nothing_else(env: dict[str, str]) -> None:
    result = deploy(env)
    assert result.returncode == 0, result.stderr
    files = staged(env)
    assert {"./main.py", "./model_handler.py", "./function.yaml", "./requirements.txt"} <= set(files)
    tops = {f.split("/")[1] for f in files}
    assert not tops & {".venv", ".git", "tests", "examples", "docs", "scripts", "assets", ".github", "out"}
    assert not tops & {"pyproject.toml", "requirements-dev.txt", "requirements-lint.txt"}
    # the framework's runtime only: the public surface and the core, never the developer tooling
    assert framework_part(files) == image_framework_files()
    assert {"cvat_function/__init__.py", "cvat_function/py.typed", "cvat_function/core/runtime.py"} <= (
        framework_part(files)
    )
    assert not [f for f in files if f.startswith(("./cvat_function/tools", "./cvat_function/__main__"))]


def test_stage_writes_the_build_folder_for_kubernetes_and_deploys_nothing(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "staged"
    result = deploy(env, "--dir", str(REPO / "tests" / "fixtures" / "interactor"), "--stage", str(out))
    assert result.returncode == 0, result.stderr
    assert not (Path(env["FAKE_LOG"]) / "nuctl.log").exists()  # nuctl never called
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {
        "main.py",
        "model_handler.py",
        "function.yaml",
        "requirements.txt",
        "cvat_function/core/runtime.py",
    } <= files
    assert not [f for f in files if f.startswith(("test_", "README")) or "__pycache__" in f]
    assert framework_part(files) == image_framework_files()
    # the example has no main.py of its own: the root's generic one is written into the staged folder
    assert not (REPO / "examples" / "grabcut-interactor" / "main.py").exists()
    assert (out / "main.py").read_bytes() == (REPO / "main.py").read_bytes()
    again = deploy(env, "--stage", str(out))
    assert again.returncode == 1
    assert "not empty" in again.stderr


def test_a_folder_with_its_own_main_py_keeps_it(env: dict[str, str], function_dir: Path, tmp_path: Path) -> None:
    (function_dir / "main.py").write_text("# my own entry\n")
    out = tmp_path / "staged"
    result = deploy(env, "--dir", str(function_dir), "--stage", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "main.py").read_text() == "# my own entry\n"


def test_a_missing_framework_path_in_the_image_list_stops_the_stage(env: dict[str, str], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", repo / "scripts")
    shutil.copytree(REPO / "cvat_function", repo / "cvat_function", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "main.py", repo / "main.py")
    shutil.copy(REPO / "requirements.txt", repo / "requirements.txt")
    listing = repo / "cvat_function" / "image-files.txt"
    listing.write_text(listing.read_text() + "cvat_function/adapters/\n")
    result = subprocess.run(
        ["bash", str(repo / "scripts" / "deploy.sh"), "--dir", str(REPO / "tests" / "fixtures" / "interactor"),
         "--stage", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "image-files.txt lists cvat_function/adapters, which does not exist" in result.stderr


def dockerfile_stage_commands(stage: str) -> list[str]:
    """The RUN commands of one Dockerfile stage, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    commands: list[str] = []
    current = None
    for line in text.splitlines():
        if line.startswith("FROM "):
            current = line.split()[-1]
        elif current == stage and line.startswith("RUN "):
            commands.append(line.removeprefix("RUN "))
    return commands


def test_the_dockerfile_copies_the_same_framework_files_as_a_source_deploy(tmp_path: Path) -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert not dockerfile.startswith("# syntax=")  # BuildKit would pull the frontend from Docker Hub
    assert "COPY cvat_function/ /opt/nuclio" not in dockerfile
    assert "COPY --from=framework /framework/cvat_function/ /opt/nuclio/cvat_function/" in dockerfile
    (command,) = dockerfile_stage_commands("framework")
    src = tmp_path / "src"
    shutil.copytree(REPO / "cvat_function", src / "cvat_function", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "framework"
    done = subprocess.run(
        ["sh", "-c", command.replace("/framework", str(out))], cwd=src, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    copied = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert copied == image_framework_files()
