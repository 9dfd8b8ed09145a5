#!/usr/bin/env bash
# Deploy this CVAT function (or one under examples/) to Nuclio on the local Docker platform.
#
#   scripts/deploy.sh                          build from source with nuctl and deploy function.yaml
#   scripts/deploy.sh --gpu                    the same with function-gpu.yaml (needs the NVIDIA toolkit)
#   scripts/deploy.sh --image ghcr.io/o/r:v1   deploy a prebuilt image (Dockerfile) instead of building
#   scripts/deploy.sh --dir examples/<name>    deploy another function folder
#
# It checks nuctl against the dashboard CVAT runs, creates project "cvat" (CVAT lists only that
# project), joins CVAT's Docker network when it exists, waits until the function is ready and
# prints its port on stdout (everything else goes to stderr). Kubernetes: see docs/deploy.md.
set -euo pipefail

# Nuclio version of CVAT v2.69+ (dashboard quay.io/nuclio/dashboard:1.16.3-amd64); same as the Dockerfile.
NUCLIO_VERSION="${NUCLIO_VERSION:-1.16.3}"
NUCTL="${NUCTL:-nuctl}"
PROJECT="cvat"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<EOF
Usage: scripts/deploy.sh [options]
  --dir DIR               function folder holding function.yaml (default: repository root)
  --gpu                   use DIR/function-gpu.yaml instead of DIR/function.yaml
  --file FILE             use this function yaml (overrides --gpu)
  --image IMAGE           deploy a prebuilt image (nuctl --run-image) instead of building from source
  --network NAME          Docker network for the function (default: cvat_cvat when it exists)
  --no-network            do not attach the function to a Docker network
  --readiness-timeout S   seconds nuctl waits for the function to become ready (default: from yaml)
  --skip-version-check    deploy even if nuctl and the dashboard versions differ
  --stage OUT             only write the folder a source build needs into OUT (for nuctl --path
                          on Kubernetes) and exit; deploys nothing
  -h, --help              show this help
Environment: NUCLIO_VERSION (default ${NUCLIO_VERSION}), NUCTL (nuctl binary), PYTHON (with PyYAML).
EOF
}

die() {
  echo "deploy.sh: error: $*" >&2
  exit 1
}

info() {
  echo "deploy.sh: $*" >&2
}

# copy_framework TARGET: the framework files the function runs, as cvat_function/image-files.txt lists them
# (the public surface and the core; never the developer tooling). The Dockerfile reads the same list.
copy_framework() {
  local path
  while IFS= read -r path || [[ -n "$path" ]]; do
    [[ "$path" =~ ^[[:space:]]*(#|$) ]] && continue
    path="${path%/}"
    [[ -e "$REPO_ROOT/$path" ]] || die "cvat_function/image-files.txt lists $path, which does not exist"
    mkdir -p "$1/$(dirname "$path")"
    cp -R "$REPO_ROOT/$path" "$1/$(dirname "$path")/"
  done <"$REPO_ROOT/cvat_function/image-files.txt"
}

# stage FOLDER TARGET: copy what the function runs into TARGET. nuctl copies all of --path into the
# image's /opt/nuclio, so: the folder's own files and fetched weights, never .venv, .git, tests, docs or
# the developer tooling; the framework's runtime files from the list above; a folder without a
# requirements.txt or a main.py (examples/*) gets the repository's (main.py is generic glue).
stage() {
  local entry
  mkdir -p "$2"
  for entry in "$1"/*; do
    case "$(basename "$entry")" in
      tests | docs | examples | scripts | assets | out | README.md | CHANGELOG.md | Makefile | Dockerfile) ;;
      cvat_function | pyproject.toml | requirements-dev.txt | requirements-lint.txt) ;;
      test_*.py | *_test.py | conftest.py) ;;
      *) cp -R "$entry" "$2/" ;;
    esac
  done
  copy_framework "$2"
  [[ -f "$2/requirements.txt" ]] || cp "$REPO_ROOT/requirements.txt" "$2/"
  [[ -f "$2/main.py" ]] || cp "$REPO_ROOT/main.py" "$2/"
  find "$2" -name __pycache__ -type d -prune -exec rm -rf {} +
}

dir="$REPO_ROOT"
gpu=0
file=""
image=""
network="auto"
readiness_timeout=""
check_versions=1
stage_to=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a folder}"; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --file) file="${2:?--file needs a path}"; shift 2 ;;
    --image) image="${2:?--image needs an image reference}"; shift 2 ;;
    --network) network="${2:?--network needs a name}"; shift 2 ;;
    --no-network) network=""; shift ;;
    --readiness-timeout) readiness_timeout="${2:?--readiness-timeout needs seconds}"; shift 2 ;;
    --skip-version-check) check_versions=0; shift ;;
    --stage) stage_to="${2:?--stage needs a folder}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[[ -d "$dir" ]] || die "function folder not found: $dir"
dir="$(cd "$dir" && pwd)"
if [[ -n "$stage_to" ]]; then
  [[ ! -e "$stage_to" || -z "$(ls -A "$stage_to")" ]] || die "--stage folder is not empty: $stage_to"
  stage "$dir" "$stage_to"
  info "staged $dir into $stage_to"
  exit 0
fi
if [[ -z "$file" ]]; then
  if [[ "$gpu" == 1 ]]; then file="$dir/function-gpu.yaml"; else file="$dir/function.yaml"; fi
fi
[[ -f "$file" ]] || die "function yaml not found: $file"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON="python3"; fi
fi
"$PYTHON" -c 'import yaml' 2>/dev/null ||
  die "$PYTHON cannot import yaml: run 'make test' once (creates .venv) or 'pip install pyyaml', or set PYTHON"

# --- tools and versions ---------------------------------------------------------------------
command -v "$NUCTL" >/dev/null 2>&1 || die "nuctl not found. Install the version of your dashboard:
  curl -fsSL -o nuctl https://github.com/nuclio/nuclio/releases/download/${NUCLIO_VERSION}/nuctl-${NUCLIO_VERSION}-linux-amd64
  chmod +x nuctl && sudo mv nuctl /usr/local/bin/nuctl"
command -v docker >/dev/null 2>&1 || die "docker not found: the local platform runs functions as Docker containers"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker daemon (is it running, may this user use it?)"

nuctl_version="$("$NUCTL" version 2>&1 | grep -o 'Label: [^,]*' | head -n1 | cut -d' ' -f2 || true)"
[[ -n "$nuctl_version" ]] || die "cannot read the version from '$NUCTL version'"
dashboard_image="$(docker ps --format '{{.Image}}' | grep -m1 'nuclio/dashboard:' || true)"
dashboard_version="${dashboard_image##*:}"
dashboard_version="${dashboard_version%-amd64}"
dashboard_version="${dashboard_version%-arm64}"

if [[ -z "$dashboard_image" ]]; then
  info "no Nuclio dashboard container is running; the function will deploy, but CVAT lists functions through the dashboard"
elif [[ "$dashboard_version" != "$nuctl_version" ]]; then
  message="nuctl is $nuctl_version but the dashboard ($dashboard_image) is $dashboard_version; install nuctl $dashboard_version"
  if [[ "$check_versions" == 1 ]]; then die "$message (or pass --skip-version-check)"; fi
  info "warning: $message"
fi
if [[ "$nuctl_version" != "$NUCLIO_VERSION" ]]; then
  info "warning: nuctl $nuctl_version differs from the pinned NUCLIO_VERSION $NUCLIO_VERSION"
fi

if [[ "$network" == "auto" ]]; then
  if docker network inspect cvat_cvat >/dev/null 2>&1; then network="cvat_cvat"; else network=""; fi
fi
if [[ -n "$network" ]]; then
  docker network inspect "$network" >/dev/null 2>&1 || die "Docker network not found: $network"
fi

# --- the yaml nuctl gets ----------------------------------------------------------------------
# A temporary copy: the Docker network goes into spec.platform.attributes (keeping restartPolicy and
# mountMode), and for --image the spec.build section is dropped, because nuctl rebuilds whenever
# build.image or build.path is set, and build.mode "neverBuild" is refused for a new function.
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
deploy_yaml="$workdir/$(basename "$file")"

mapfile -t meta < <("$PYTHON" - "$file" "$deploy_yaml" "$network" "$image" <<'PY'
import sys

import yaml

source, target, network, image = sys.argv[1:5]
with open(source, encoding="utf-8") as handle:
    config = yaml.safe_load(handle)
spec = config.setdefault("spec", {})
if network:
    platform = spec.setdefault("platform", {}) or {}
    spec["platform"] = platform
    attributes = platform.setdefault("attributes", {}) or {}
    platform["attributes"] = attributes
    attributes["network"] = network
if image:
    spec.pop("build", None)
    spec["image"] = image
with open(target, "w", encoding="utf-8") as handle:
    yaml.safe_dump(config, handle, sort_keys=False)
print(config["metadata"]["name"])
print(spec.get("runtime", ""))
print(spec.get("handler", ""))
PY
)
[[ "${#meta[@]}" -eq 3 && -n "${meta[0]}" ]] || die "cannot read metadata.name, spec.runtime, spec.handler from $file"
name="${meta[0]}"
runtime="${meta[1]}"
handler="${meta[2]}"

# --- project and deploy -----------------------------------------------------------------------
if ! "$NUCTL" get project "$PROJECT" --platform local >/dev/null 2>&1; then
  info "creating Nuclio project '$PROJECT'"
  "$NUCTL" create project "$PROJECT" --platform local >&2
fi

args=(deploy "$name" --platform local --project-name "$PROJECT" --file "$deploy_yaml")
if [[ -n "$image" ]]; then
  args+=(--run-image "$image" --runtime "$runtime" --handler "$handler")
  info "deploying $name from image $image (${network:-no network})"
else
  staged="$workdir/src"
  stage "$dir" "$staged"
  args+=(--path "$staged")
  info "building and deploying $name from $dir with $(basename "$file") (${network:-no network})"
fi
if [[ -n "$readiness_timeout" ]]; then args+=(--readiness-timeout "$readiness_timeout"); fi
# nuctl's own output goes to stderr: stdout carries only the port, for PORT="$(scripts/deploy.sh)".
"$NUCTL" "${args[@]}" >&2

# --- wait for ready, print the port -----------------------------------------------------------
state=""
port=""
for _ in $(seq 1 60); do
  if status="$("$NUCTL" get function "$name" --platform local -o json 2>/dev/null)"; then
    read -r state port < <("$PYTHON" -c '
import json, sys
status = json.load(sys.stdin).get("status", {})
print(status.get("state", "unknown"), status.get("httpPort", 0))' <<<"$status") || true
    [[ "$state" == "ready" ]] && break
  fi
  sleep 2
done
if [[ "$state" != "ready" ]]; then
  docker logs --tail 100 "nuclio-nuclio-$name" >&2 || true
  die "function $name is '${state:-missing}', not ready; its container log is above"
fi
info "$name is ready on http://localhost:$port/ (project $PROJECT)"
echo "$port"
