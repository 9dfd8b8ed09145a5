# The verbs; the README and the workflows call these same targets. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Local image name for `make image`; the release workflow pushes ghcr.io/<owner>/<repo> instead.
IMAGE ?= cvat-opencv-face-person-detector
TAG ?= dev
# Extra flags for scripts/deploy.sh, e.g. DEPLOY_ARGS="--dir examples/foo --no-network".
DEPLOY_ARGS ?=

DEV_STAMP := $(VENV)/.dev-installed
LINT_STAMP := $(VENV)/.lint-ci-installed
# The ONNX example's generated demo model (git-ignored); nothing once examples/onnx-detector is gone.
ONNX_DEMO := $(if $(wildcard examples/onnx-detector/make_demo_model.py),examples/onnx-detector/weights/model.onnx)

.PHONY: help install test lint lint-ci invoke bench serve validate soak sync-gpu weights demo-model image image-gpu deploy deploy-gpu deploy-image
.PHONY: annotate bench-annotate agent-create agent-run

# CVAT Online / Enterprise agents and offline annotation. The token is never a make variable: cvat-cli reads
# CVAT_ACCESS_TOKEN (a personal access token) from the environment.
CVAT_HOST ?= https://app.cvat.ai
FUNCTION_DIR ?= .
AGENT_NAME ?= $(notdir $(abspath $(FUNCTION_DIR)))
FUNCTION_ID ?=
IN ?=
OUT ?= out/annotations.zip
SDK_FUNCTION := PYTHONPATH=$(CURDIR) $(BIN)/cvat-cli --server-host $(CVAT_HOST)
SDK_MODULE := --function-module cvat_function.sdk.function -p function=str:$(abspath $(FUNCTION_DIR))

help: ## list the verbs
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEV_STAMP): requirements.txt requirements-dev.txt requirements-weights.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@# the framework itself, editable: the `cvat-function` command; the backend came with requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

install: $(DEV_STAMP) ## create .venv, install the dev requirements and the framework (editable; again on changes)

test: install ## install, then run the whole test suite
	$(BIN)/python -m pytest -q

lint: install ## ruff and mypy (framework, root function, scripts, every example)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cvat_function main.py model_handler.py scripts
	@# each example has its own model_handler.py (and the generic main.py): one mypy run per folder
	@for d in examples/*/; do \
		(cd $$d && MYPYPATH=../.. ../../$(BIN)/mypy --config-file ../../pyproject.toml --explicit-package-bases \
			$$(ls *.py | grep -v '^test_')) || exit 1; \
	done
	@# the framework tests' fixture functions (tests/fixtures/*), one level deeper
	@for f in tests/fixtures/*/function.yaml tests/fixtures/*/*/function.yaml; do \
		d=$$(dirname $$f); up=$$(echo $$d | sed 's#[^/]*#..#g'); \
		(cd $$d && MYPYPATH=$$up $$up/$(BIN)/mypy --config-file $$up/pyproject.toml \
			--explicit-package-bases *.py) || exit 1; \
	done

$(LINT_STAMP): requirements-lint.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-lint.txt
	touch $@

lint-ci: $(LINT_STAMP) ## hadolint, shellcheck, zizmor (offline) and the GitHub workflow schema check
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck scripts/*.sh
	$(BIN)/zizmor --offline .github/workflows
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

invoke: install ## run the default model on the sample image, print CVAT's JSON, draw out/astronaut.png
	$(BIN)/python -m cvat_function invoke assets/astronaut.jpg --draw out/astronaut.png

bench: install ## measure per-stage time, request overhead, cold start, mask answers and serve's overhead
	$(BIN)/python -m cvat_function bench --server

serve: install | $(ONNX_DEMO) ## serve every function folder like Nuclio, with a dashboard API for CVAT on :8070
	$(BIN)/python -m cvat_function serve

validate: install | $(ONNX_DEMO) ## lint every function.yaml as CVAT and Nuclio read it, then run the contract suite
	$(BIN)/python -m cvat_function validate

soak: install ## 10 000 requests at concurrency 8 against serve: errors, p50/p95, memory growth
	$(BIN)/python -m cvat_function soak --requests 10000 --concurrency 8

sync-gpu: install ## write function-gpu.yaml's labels, annotations and env from function.yaml (labels are written once)
	$(BIN)/python -m cvat_function sync-gpu

weights: install ## download and verify the files listed in weights.lock (before a source deploy)
	$(BIN)/python scripts/fetch_weights.py

demo-model: | $(ONNX_DEMO) ## write examples/onnx-detector's demo model unless a model is already there

# order-only everywhere: a model already in place (yours, fetched) is never overwritten
$(ONNX_DEMO): | $(DEV_STAMP)
	$(BIN)/python examples/onnx-detector/make_demo_model.py --out $@

image: ## build the CPU function image from the Dockerfile (needs Docker with BuildKit)
	docker build --platform linux/amd64 -t $(IMAGE):$(TAG) .

image-gpu: ## build the GPU function image (CUDA base, onnxruntime-gpu)
	docker build --platform linux/amd64 --build-arg VARIANT=gpu -t $(IMAGE):$(TAG)-gpu .

deploy: ## build from source with nuctl and deploy function.yaml to the local Nuclio (project cvat)
	scripts/deploy.sh $(DEPLOY_ARGS)

deploy-gpu: ## the same with function-gpu.yaml
	scripts/deploy.sh --gpu $(DEPLOY_ARGS)

deploy-image: ## deploy the image built by `make image` instead of building with nuctl
	scripts/deploy.sh --image $(IMAGE):$(TAG) $(DEPLOY_ARGS)

annotate: install ## pre-annotate IN=folder|glob|list|video into OUT= (.zip: CVAT for images 1.1, .json: COCO 1.0)
	@test -n "$(IN)" || { echo "usage: make annotate IN=photos/ [OUT=out/photos.zip] [FUNCTION_DIR=.]"; exit 2; }
	$(BIN)/python -m cvat_function annotate $(IN) --out $(OUT) --function $(FUNCTION_DIR)

bench-annotate: install ## offline throughput on 32 generated 1920×1080 JPEGs against one request at a time
	$(BIN)/python -m cvat_function annotate --bench 32 --function $(FUNCTION_DIR)

agent-create: install ## register FUNCTION_DIR with CVAT Online/Enterprise as a native function; prints its id
	@test -n "$$CVAT_ACCESS_TOKEN" || { echo "export CVAT_ACCESS_TOKEN=<personal access token> first"; exit 2; }
	$(SDK_FUNCTION) function create-native "$(AGENT_NAME)" $(SDK_MODULE)

agent-run: install ## serve CVAT's requests for FUNCTION_ID=<id from agent-create> until Ctrl-C
	@test -n "$$CVAT_ACCESS_TOKEN" || { echo "export CVAT_ACCESS_TOKEN=<personal access token> first"; exit 2; }
	@test -n "$(FUNCTION_ID)" || { echo "usage: make agent-run FUNCTION_ID=<id printed by make agent-create>"; exit 2; }
	$(SDK_FUNCTION) function run-agent $(FUNCTION_ID) $(SDK_MODULE)
