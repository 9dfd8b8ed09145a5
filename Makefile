# Deployment and release targets (see docs/deploy.md). The core targets (test, lint, ...) live
# alongside these; the workflows call the same verbs.

VENV ?= .venv
# Local image name for `make image`; the release workflow pushes ghcr.io/<owner>/<repo> instead.
IMAGE ?= cvat-opencv-face-person-detector
TAG ?= dev
# Extra flags for scripts/deploy.sh, e.g. DEPLOY_ARGS="--dir examples/foo --no-network".
DEPLOY_ARGS ?=

LINT_STAMP := $(VENV)/.lint-ci-installed

.PHONY: lint-ci weights image image-gpu deploy deploy-gpu deploy-image

$(LINT_STAMP): requirements-lint.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements-lint.txt
	touch $@

## lint-ci: hadolint, shellcheck, zizmor (offline) and the GitHub workflow schema check
lint-ci: $(LINT_STAMP)
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/shellcheck scripts/*.sh
	$(VENV)/bin/zizmor --offline .github/workflows
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

## weights: download and verify the files listed in weights.lock (before a source deploy)
weights:
	python3 scripts/fetch_weights.py

## image: build the CPU function image from the Dockerfile (needs Docker with BuildKit)
image:
	docker build --platform linux/amd64 -t $(IMAGE):$(TAG) .

## image-gpu: build the GPU function image (CUDA base, onnxruntime-gpu)
image-gpu:
	docker build --platform linux/amd64 --build-arg VARIANT=gpu -t $(IMAGE):$(TAG)-gpu .

## deploy: build from source with nuctl and deploy function.yaml to the local Nuclio (project cvat)
deploy:
	scripts/deploy.sh $(DEPLOY_ARGS)

## deploy-gpu: the same with function-gpu.yaml
deploy-gpu:
	scripts/deploy.sh --gpu $(DEPLOY_ARGS)

## deploy-image: deploy the image built by `make image` instead of building with nuctl
deploy-image:
	scripts/deploy.sh --image $(IMAGE):$(TAG) $(DEPLOY_ARGS)
