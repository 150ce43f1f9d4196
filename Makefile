# Glassbox. `make run` and `make test` bootstrap everything on a fresh Debian / Python 3.11 box.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/churn
# The compiled engines `make train` and `make run` build (app/model/engine_build.py): never committed.
ENGINE_DIR ?= $(CURDIR)/.run/engine
PORT ?= 8000
# The multiprocess metrics dir must be in the environment before Python starts.
PROMETHEUS_MULTIPROC_DIR ?= $(CURDIR)/.run/metrics

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy
export PYTHONDONTWRITEBYTECODE := 1

APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

.PHONY: help run dev test test-unit test-integration lint format train describe bench bench-drain \
  bench-overload bench-footprint clean system-deps inventory stack traffic rules dashboards dashboards-preview \
  k8s checkov image image-context image-base image-deps test-image sbom audit bench-instructions \
  bench-prices openapi bench-quick bench-tails bench-soak bench-setup bench-components bench-gc \
  bench-all

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# --- bootstrap ---------------------------------------------------------------------------
$(UV):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  echo ">> $(PYTHON) has no venv/ensurepip: installing python3-venv"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -q && $(APT_INSTALL) python3-venv; \
	  else echo "!! install python3-venv (Debian) and retry" >&2; exit 1; fi; \
	fi
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON) $(SYNC_FLAGS)
	@touch $@

# checkov (tests/k8s/test_policy.py) in an environment of its own: it pins many libraries that
# would fight the project's. From PyPI, pinned here; run offline (--skip-download).
CHECKOV_VERSION := 3.3.30
CHECKOV_ENV ?= $(TOOLS)/checkov
export CHECKOV := $(abspath $(CHECKOV_ENV))/bin/checkov
$(CHECKOV_ENV)/.installed-$(CHECKOV_VERSION): | $(UV)
	rm -rf $(CHECKOV_ENV)
	$(PYTHON) -m venv $(CHECKOV_ENV)
	$(CHECKOV_ENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@
checkov: $(CHECKOV_ENV)/.installed-$(CHECKOV_VERSION) ## install checkov in its own environment


# Debian packages the tests and benchmarks drive: Prometheus and promtool, Alertmanager and amtool
# (monitoring tests), wrk (bench, the rollout test's capacity), HAProxy (the rollout test's load
# balancer).
SYSTEM_TOOLS := prometheus:prometheus promtool:prometheus wrk:wrk haproxy:haproxy \
  amtool:prometheus-alertmanager prometheus-alertmanager:prometheus-alertmanager
system-deps: ## install prometheus, alertmanager, wrk and haproxy from Debian when missing (root + apt)
	@missing=""; for pair in $(SYSTEM_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null || missing="$$missing $$pkg"; done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing Debian packages:$$missing"; \
	    apt-get update -q >/dev/null && $(APT_INSTALL) $$missing >/dev/null; \
	  else echo "!! cannot install$$missing (no root/apt): tests that need them will SKIP (CI=true fails them)"; fi; \
	fi

# --- the two commands ----------------------------------------------------------------------
run: $(VENV)/.synced ## serve the bundled model on :$(PORT) with gunicorn (python -m app.serve)
	@rm -rf $(PROMETHEUS_MULTIPROC_DIR) && mkdir -p $(PROMETHEUS_MULTIPROC_DIR)
	$(BIN)/python -m app.model.engine_build --model-dir $(MODEL_DIR) --out $(ENGINE_DIR) --if-stale
	PROMETHEUS_MULTIPROC_DIR=$(PROMETHEUS_MULTIPROC_DIR) PORT=$(PORT) GLASSBOX_MODEL_DIR=$(MODEL_DIR) \
	  GLASSBOX_MODEL_ENGINE_DIR=$(ENGINE_DIR) exec $(BIN)/python -m app.serve --config gunicorn.conf.py

test: $(VENV)/.synced checkov system-deps lint ## lint, then every test (unit, then integration)
	$(BIN)/pytest -m "not integration and not image"
	$(BIN)/pytest -m integration

# --- the rest -------------------------------------------------------------------------------
dev: $(VENV)/.synced ## one process with autoreload and readable logs
	@rm -rf $(PROMETHEUS_MULTIPROC_DIR) && mkdir -p $(PROMETHEUS_MULTIPROC_DIR)
	PROMETHEUS_MULTIPROC_DIR=$(PROMETHEUS_MULTIPROC_DIR) GLASSBOX_MODEL_DIR=$(MODEL_DIR) \
	  $(BIN)/uvicorn --factory app.main:create_server_app --reload --reload-dir app --port $(PORT)

test-unit: $(VENV)/.synced checkov ## unit tests only
	$(BIN)/pytest -m "not integration and not image"

test-integration: $(VENV)/.synced system-deps ## integration tests only (real gunicorn, Prometheus)
	$(BIN)/pytest -m integration

lint: $(VENV)/.synced ## ruff (format check + lint) and mypy
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(VENV)/.synced ## apply ruff's formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

stack: $(VENV)/.synced system-deps ## the service, Prometheus and Alertmanager on free ports, until Ctrl-C
	$(BIN)/python -m monitoring.stack $(STACK_ARGS)

traffic: $(VENV)/.synced ## send generator traffic to a running service (TRAFFIC_ARGS="--shift older")
	$(BIN)/python -m examples.churn.traffic --url http://127.0.0.1:$(PORT) $(TRAFFIC_ARGS)

PROMETHEUS_URL ?= http://127.0.0.1:9090
dashboards-preview: $(VENV)/.synced ## PNG previews of the dashboards from a running Prometheus (PROMETHEUS_URL=...)
	$(BIN)/python -m grafana.preview --prometheus $(PROMETHEUS_URL) $(PREVIEW_ARGS)

rules: $(VENV)/.synced ## regenerate the drift and SLO rules, prometheus.yml, the PrometheusRule
	$(BIN)/python -m monitoring.drift_rules
	$(BIN)/python -m monitoring.slo_rules
	$(BIN)/python -m k8s.generate

.PHONY: dashboards
dashboards: $(VENV)/.synced ## regenerate grafana/dashboards/*.json from the code in grafana/
	$(BIN)/python -m grafana.generate
	$(BIN)/python -m k8s.generate

k8s: $(VENV)/.synced ## copy the PrometheusRule and the dashboards into k8s/components/monitoring
	$(BIN)/python -m k8s.generate

openapi: $(VENV)/.synced ## regenerate app/api/openapi.json, the OpenAPI document the app serves
	$(BIN)/python -m app.openapi_document

inventory: $(VENV)/.synced ## regenerate monitoring/metrics-inventory.txt from a real server's /metrics
	UPDATE_INVENTORY=1 $(BIN)/pytest -q tests/integration/test_metrics.py -k inventory

describe: $(VENV)/.synced ## write card + profile for your model: MODEL=model.txt SAMPLE=s.csv SPEC=spec.yaml OUT=dir
	$(BIN)/python -m app.describe_model --model $(MODEL) --sample $(SAMPLE) --spec $(SPEC) --out $(OUT)

train: $(VENV)/.synced ## retrain the bundled model: byte-identical artifacts in $(MODEL_DIR), its engine in $(ENGINE_DIR)
	$(BIN)/python -m examples.churn.training --out $(MODEL_DIR)
	$(BIN)/python -m app.model.engine_build --model-dir $(MODEL_DIR) --out $(ENGINE_DIR)

# The bench's Python group (matplotlib for the charts) and its Debian tools (wrk).
bench-setup: system-deps | $(UV)
	$(UV) sync --frozen --python $(PYTHON) --group bench
	@touch $(VENV)/.synced

bench: bench-setup ## ~8 minutes: the shipped service and full telemetry against the bare references and the raw model; the drain
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.drain $(BENCH_DRAIN_ARGS)

bench-components: bench-setup ## ~6 minutes: each telemetry component's CPU per request (issues 5-7, 27) and their targets
	$(BIN)/python -m bench --components $(BENCH_COMPONENTS_ARGS)

bench-gc: bench-setup ## ~3 minutes: the collector's pauses with and without gc.freeze() (issue 13)
	$(BIN)/python -m bench --gc-only $(BENCH_GC_ARGS)

bench-all: bench bench-components bench-gc bench-overload bench-footprint ## ~25 minutes: bench, bench-components, bench-gc, bench-overload and bench-footprint in turn

# The regression gate users put in their CI (README: Performance): bare and full telemetry, single
# rows at 16 and 64 connections, 3 short interleaved rounds; exit 3 when full telemetry's rps
# falls under BENCH_QUICK_MIN x bare's at either count, or its spans are invalid.
BENCH_QUICK_MIN ?= 0.8
bench-quick: $(VENV)/.synced ## ~1 minute: full telemetry against bare, a CI gate: fails under 0.8x bare rps (BENCH_QUICK_MIN)
	@$(MAKE) --no-print-directory system-deps SYSTEM_TOOLS="wrk:wrk"
	$(BIN)/python -m bench --gate $(BENCH_QUICK_MIN) --rounds 3 --duration 2 --warmup 1 $(BENCH_QUICK_ARGS)

bench-tails: $(VENV)/.synced ## ~10 minutes: issue 29's tail rounds (p99, p99.9), every run >= 50,000 requests
	@$(MAKE) --no-print-directory system-deps SYSTEM_TOOLS="wrk:wrk"
	$(BIN)/python -m bench --tails $(BENCH_TAILS_ARGS)

bench-soak: $(VENV)/.synced ## ~6 minutes: full telemetry's worker RSS slope under steady load (< 1 MiB/min)
	@$(MAKE) --no-print-directory system-deps SYSTEM_TOOLS="wrk:wrk"
	$(BIN)/python -m bench.soak $(BENCH_SOAK_ARGS)

bench-drain: $(VENV)/.synced ## measure how fast a SIGTERM's drain flag reaches every worker
	$(BIN)/python -m bench.drain $(BENCH_DRAIN_ARGS)

bench-overload: $(VENV)/.synced system-deps ## the knee, spikes with and without shedding, /healthz under max-size batches
	$(BIN)/python -m bench.overload

bench-footprint: $(VENV)/.synced ## what a worker's files take in the multiprocess directory, per restart
	$(BIN)/python -m bench.multiprocess_footprint $(BENCH_FOOTPRINT_ARGS)

bench-instructions: $(VENV)/.synced ## instructions per request, per fast path (callgrind, in-process): repeatable on a noisy box
	@$(MAKE) --no-print-directory system-deps SYSTEM_TOOLS="valgrind:valgrind"
	$(BIN)/python -m bench.instructions $(BENCH_INSTRUCTIONS_ARGS)

bench-prices: $(VENV)/.synced system-deps ## CPU µs per request each fast path saves under load (paired rounds, real gunicorn)
	$(BIN)/python -m bench.fast_path_prices $(BENCH_PRICES_ARGS)

# --- the image (README: "The container image") ---------------------------------------------
# The build context's extras, made on the host so that the build needs no network: the pinned uv,
# the runtime dependencies exported from the lock with their hashes, their wheels, and Debian's
# libgomp1 (LightGBM's wheel links libgomp.so.1 and bundles none).
IMAGE ?= glassbox:dev
IMAGE_DIR := .run/image
IMAGE_CONTEXT := $(IMAGE_DIR)/context
# The base's Debian release: libgomp1 is fetched for it (python:3.11-slim-bookworm is Debian 12).
IMAGE_DEBIAN ?= bookworm
BASE ?= python:3.11-slim-bookworm
# `make test-image`'s base: Debian 12 minbase with python3 only (3.11), made here by debootstrap.
TEST_BASE := localhost/glassbox-base:$(IMAGE_DEBIAN)
TEST_IMAGE := localhost/glassbox:test
DEBIAN_MIRROR ?= http://deb.debian.org/debian
PODMAN_BUILD := podman build --network=none --format oci

$(IMAGE_CONTEXT)/requirements.txt: pyproject.toml uv.lock | $(UV)
	@mkdir -p $(@D)
	$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt --quiet -o $@

$(IMAGE_CONTEXT)/wheels/.done: $(IMAGE_CONTEXT)/requirements.txt
	rm -rf $(@D) && mkdir -p $(@D)
	$(TOOLS)/bin/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
	  --require-hashes -r $< -d $(@D)
	@touch $@

$(IMAGE_CONTEXT)/uv: | $(UV)
	@mkdir -p $(@D)
	@test "$$($(UV) --version | cut -d' ' -f2)" = $(UV_VERSION) || { echo "!! $(UV) is not uv $(UV_VERSION)" >&2; exit 1; }
	cp $(UV) $@

$(IMAGE_CONTEXT)/debs/.done:
	rm -rf $(@D) && mkdir -p $(@D)
	cd $(@D) && { apt-get download libgomp1 2>/dev/null || { apt-get update -q >/dev/null && apt-get download libgomp1; }; }
	@touch $@

image-context: $(IMAGE_CONTEXT)/requirements.txt $(IMAGE_CONTEXT)/wheels/.done $(IMAGE_CONTEXT)/uv $(IMAGE_CONTEXT)/debs/.done ## the build context's extras: uv, the locked wheels, libgomp1

sbom: $(IMAGE_DIR)/sbom.cdx.json ## the image's dependency set as CycloneDX 1.5, from the lock
$(IMAGE_DIR)/sbom.cdx.json: pyproject.toml uv.lock | $(UV)
	@mkdir -p $(@D)
	$(UV) export --frozen --no-dev --no-emit-project --format cyclonedx1.5 --quiet -o $@

image: image-context sbom ## build the image (IMAGE=glassbox:dev, BASE=python:3.11-slim-bookworm) with no network
	$(PODMAN_BUILD) --build-arg BASE=$(BASE) -t $(IMAGE) .
	cp $(IMAGE_DIR)/sbom.cdx.json $(IMAGE_DIR)/$(subst /,_,$(subst :,_,$(IMAGE))).sbom.cdx.json

# Debian packages the image test drives: podman and its OCI runtime, debootstrap for the base.
IMAGE_TOOLS := podman:podman runc:runc debootstrap:debootstrap fuse-overlayfs:fuse-overlayfs
image-deps: ## install podman, runc and debootstrap from Debian when missing (root + apt)
	@$(MAKE) --no-print-directory system-deps SYSTEM_TOOLS="$(IMAGE_TOOLS)"

$(IMAGE_DIR)/base.tar:
	@mkdir -p $(IMAGE_DIR)
	rm -rf $(IMAGE_DIR)/rootfs
	debootstrap --variant=minbase --include=python3 $(IMAGE_DEBIAN) $(IMAGE_DIR)/rootfs $(DEBIAN_MIRROR) >$(IMAGE_DIR)/debootstrap.log
	rm -rf $(IMAGE_DIR)/rootfs/var/cache/apt/archives/*.deb $(IMAGE_DIR)/rootfs/var/lib/apt/lists/*
	tar -C $(IMAGE_DIR)/rootfs --numeric-owner -cf $@.part . && mv $@.part $@
	rm -rf $(IMAGE_DIR)/rootfs

image-base: image-deps $(IMAGE_DIR)/base.tar ## the test's base: debootstrap minbase + python3, imported into podman
	@podman image exists $(TEST_BASE) || podman import $(IMAGE_DIR)/base.tar $(TEST_BASE)

test-image: $(VENV)/.synced image-base image-context sbom ## build the image on the minbase base with no network, run it read-only as its user, test it
	@start=$$(date +%s); $(PODMAN_BUILD) --build-arg BASE=$(TEST_BASE) -t $(TEST_IMAGE) . ; rc=$$?; \
	  echo ">> image build: $$(( $$(date +%s) - start )) s"; exit $$rc
	cp $(IMAGE_DIR)/sbom.cdx.json $(IMAGE_DIR)/glassbox_test.sbom.cdx.json
	GLASSBOX_TEST_IMAGE=$(TEST_IMAGE) GLASSBOX_TEST_SBOM=$(IMAGE_DIR)/glassbox_test.sbom.cdx.json \
	  $(BIN)/pytest -m image -p no:cacheprovider tests/image

# pip-audit asks PyPI's JSON API per release (/pypi/<name>/<version>/json, its "vulnerabilities"):
# probed first with the lock's first runtime requirement.
AUDIT_PROBE := import json, re, sys, urllib.request as u; \
  name, version = re.search(r"^([A-Za-z0-9._-]+)==(\S+)", open(sys.argv[1]).read(), re.M).groups(); \
  body = json.load(u.urlopen(f"https://pypi.org/pypi/{name}/{version}/json", timeout=10)); \
  sys.exit(0 if "vulnerabilities" in body else 1)
audit: | $(UV) ## pip-audit the locked runtime dependencies (needs PyPI's vulnerability data; not in make test)
	$(UV) sync --frozen --python $(PYTHON) --group audit --quiet
	@touch $(VENV)/.synced
	@$(MAKE) --no-print-directory $(IMAGE_CONTEXT)/requirements.txt
	@if $(BIN)/python -c '$(AUDIT_PROBE)' $(IMAGE_CONTEXT)/requirements.txt 2>/dev/null; then \
	  $(BIN)/pip-audit --strict --require-hashes --disable-pip -r $(IMAGE_CONTEXT)/requirements.txt; \
	else echo "!! make audit: PyPI's vulnerability data (pip-audit's service, /pypi/<name>/<version>/json) is not reachable from here: NOTHING WAS AUDITED" >&2; exit 2; fi

clean: ## remove the environments and run-time files
	rm -rf $(VENV) $(TOOLS) .run .pytest_cache .mypy_cache .ruff_cache
