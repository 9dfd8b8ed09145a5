# The complete, deployable image of this CVAT function (Nuclio's "deploy from a Dockerfile" route).
#   CPU: docker build -t cvat-fn:dev .                       (or: make image)
#   GPU: docker build --build-arg VARIANT=gpu -t cvat-fn:dev-gpu .   (or: make image-gpu)
# Deploy the result with `scripts/deploy.sh --image <name>` (nuctl --run-image; see docs/deploy.md).

# Nuclio release supplying the processor and the Python wrapper; must equal nuctl's and the dashboard's (CVAT v2.69+ pins 1.16.3).
ARG NUCLIO_VERSION=1.16.3
# cpu | gpu: which base stage the final image starts from.
ARG VARIANT=cpu
# Python of spec.runtime in function.yaml ("python:3.12"); picks Nuclio's matching wheel folder.
ARG PYTHON_VERSION=3.12
# Slim Debian image whose python3 is PYTHON_VERSION.
ARG CPU_BASE_IMAGE=python:3.12-slim-bookworm
# CUDA 12 + cuDNN 9 runtime (what onnxruntime-gpu 1.26 links against); Ubuntu 24.04's python3 is 3.12.
ARG GPU_BASE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# Supplies uhttpc, the tiny HTTP client the Docker health check runs.
FROM quay.io/nuclio/uhttpc:0.0.1-amd64 AS uhttpc

# Supplies the processor binary, the Python wrapper and the wheels (nuclio-sdk, msgpack) for each Python.
FROM quay.io/nuclio/handler-builder-python-onbuild:${NUCLIO_VERSION}-amd64 AS nuclio

# Downloads and verifies the weights listed in weights.lock in a throw-away stage (no tools left behind).
FROM ${CPU_BASE_IMAGE} AS weights
WORKDIR /src
COPY requirements-weights.txt weights.lock ./
COPY scripts/fetch_weights.py scripts/
# Fails the build, naming expected and actual SHA-256, when a download does not match or is cut off.
RUN python -m pip install --no-cache-dir -r requirements-weights.txt \
    && python scripts/fetch_weights.py --manifest weights.lock --root /weights

# Picks the framework files the function runs (cvat_function/image-files.txt: the public surface and the core)
# out of the package, in a throw-away stage: the developer tooling (serve, lint, bench, CLI) never reaches the image.
FROM ${CPU_BASE_IMAGE} AS framework
WORKDIR /src
COPY cvat_function/ cvat_function/
RUN set -eu; mkdir /framework; \
    while read -r path; do \
        case "$path" in ''|'#'*) continue ;; esac; \
        cp -R --parents "${path%/}" /framework/; \
    done < cvat_function/image-files.txt

# CPU base: the official image already has Python and pip; a venv keeps the layout equal to the GPU one.
FROM ${CPU_BASE_IMAGE} AS base-cpu
RUN python -m venv /opt/venv

# GPU base: CUDA image plus Python; its python3 is PEP 668 "externally managed", hence the venv.
FROM ${GPU_BASE_IMAGE} AS base-gpu
# apt versions are not pinned: Ubuntu removes superseded versions from its archive, which would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
# The GPU runtime (onnxruntime-gpu) is large and changes rarely: its own cached layer, before the function's.
COPY requirements-gpu.txt /tmp/requirements-gpu.txt
RUN /opt/venv/bin/python -m pip install --no-cache-dir -r /tmp/requirements-gpu.txt

# The function image: one of the bases above, then Nuclio, requirements, weights and code, most stable first.
# base-${VARIANT} names a stage above, not a registry image, so there is no tag to pin (DL3006).
# hadolint ignore=DL3006
FROM base-${VARIANT} AS function
ARG PYTHON_VERSION
# venv first on PATH: the processor starts `python3` from PATH, so the wrapper runs in the venv.
ENV PATH=/opt/venv/bin:$PATH
# Unbuffered output: print() and logs reach `docker logs` at once.
ENV PYTHONUNBUFFERED=1
# No .pyc files written at run time into the image's layers.
ENV PYTHONDONTWRITEBYTECODE=1
# No pip self-update check (offline clusters, quieter logs).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1

COPY --from=nuclio /home/nuclio/bin/processor /usr/local/bin/processor
COPY --from=nuclio /home/nuclio/bin/py /opt/nuclio/
COPY --from=nuclio /home/nuclio/bin/py${PYTHON_VERSION}-whl /opt/nuclio/whl
COPY --from=uhttpc /home/nuclio/bin/uhttpc /usr/local/bin/uhttpc
# The SDK and msgpack the wrapper imports, from the wheels bundled with this Nuclio version (offline, matching).
# Versions are fixed by --no-index: the wheel folder holds exactly the ones this Nuclio release ships.
# hadolint ignore=DL3013
RUN python -m pip install --no-cache-dir --no-index --find-links /opt/nuclio/whl nuclio-sdk msgpack

# Requirements before code: editing main.py or the model does not reinstall packages.
COPY requirements.txt /opt/nuclio/requirements.txt
ARG VARIANT
# GPU: the CPU onnxruntime stays out (onnxruntime-gpu, installed above, is the same module and the last wins)
RUN if [ "$VARIANT" = gpu ]; then grep -v '^onnxruntime' /opt/nuclio/requirements.txt > /tmp/requirements.txt; \
    else cp /opt/nuclio/requirements.txt /tmp/requirements.txt; fi \
    && python -m pip install --no-cache-dir -r /tmp/requirements.txt
# GPU: fail the build if a package pulled the CPU onnxruntime back in, or CUDA is not among its providers
COPY cvat_function/onnx/gpu_check.py /tmp/gpu_check.py
RUN if [ "$VARIANT" = gpu ]; then python /tmp/gpu_check.py; fi

# Verified weights (empty for the default model), under /opt/nuclio like a source deploy would place them.
COPY --from=weights /weights/ /opt/nuclio/

# TODO(template): add any new module or data file your handler imports at run time.
COPY main.py model_handler.py function.yaml function-gpu.yaml /opt/nuclio/
COPY --from=framework /framework/cvat_function/ /opt/nuclio/cvat_function/

# Nuclio copies source deploys to /opt/nuclio and runs from there; keep the same working directory.
WORKDIR /opt/nuclio

# Docker marks the container healthy only when every worker ran init_context; nuctl waits for that.
HEALTHCHECK --interval=1s --timeout=3s \
    CMD ["/bin/sh", "-c", "/usr/local/bin/uhttpc --url http://127.0.0.1:8082/ready || exit 1"]

# The platform mounts processor.yaml at /etc/nuclio/config/processor, the processor's default path.
CMD ["processor"]
