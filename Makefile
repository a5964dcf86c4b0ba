# mlkube — train, register, serve, roll out and monitor ML models on Kubernetes.
# `make help` lists every target. Tool versions: versions.env. Ports, images, labels: platform.env.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

include versions.env
include platform.env

ROOT := $(CURDIR)
CACHE ?= $(ROOT)/.cache
BIN := $(CACHE)/bin
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -c tests/pytest.ini
# The hash-locked Python dependencies of .venv (requirements/, make lock); the image wheelhouses' torch
# constraints are made from it.
DEV_LOCK := requirements/dev.lock
TORCH_CONSTRAINTS := $(CACHE)/torch-constraints.txt
export PATH := $(BIN):$(VENV)/bin:$(PATH)
# The suites' Debian packages, which suites side by side may each install: tests/apt_get.sh takes turns and waits.
APT_GET := $(ROOT)/tests/apt_get.sh
export MLKUBE_CACHE := $(CACHE)

# Each part of the platform brings its own targets; TEST_SUITES collects their test targets in order.
TEST_SUITES :=
-include tests/lint/lint.mk
-include training-jobs/training-jobs.mk
-include model-server/model-server.mk
-include charts/charts.mk
-include charts/monitoring/monitoring.mk
-include ansible/ansible.mk
-include ansible/roles/local_cluster/local_cluster.mk
-include tests/e2e/e2e.mk

##@ Python environment

# Third-party packages come from the hash-locked requirements/dev.lock (make lock writes it); the project's
# own packages are installed editable on top, without dependencies of their own.
PY_PROJECTS := training-jobs/pyproject.toml model-server/pyproject.toml charts/monitoring/dashboards-src/pyproject.toml
VENV_STAMP := $(VENV)/.mlkube-stamp-$(shell cat $(DEV_LOCK) $(PY_PROJECTS) 2>/dev/null | sha256sum | cut -c1-12)

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv with the trainers, the server, the monitoring generators and the test tools (requirements/dev.lock)

$(VENV_STAMP): $(DEV_LOCK) $(PY_PROJECTS)
	@echo "==> python environment (.venv)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	@$(PY) -m pip install --quiet --no-deps -e training-jobs -e model-server -e charts/monitoring/dashboards-src
	@$(PY) -m pip check
	@$(PY) -m mlkube_server.kinds.skops_table
	@rm -f $(VENV)/.mlkube-stamp-* && touch $@

UV_VENV := $(CACHE)/uv-venv
UV_STAMP := $(UV_VENV)/.stamp-$(UV_VERSION)

$(UV_STAMP):
	@echo "==> uv $(UV_VERSION) (.cache/uv-venv)"
	@rm -rf $(UV_VENV) && python3 -m venv $(UV_VENV)
	@$(UV_VENV)/bin/pip install --quiet 'uv==$(UV_VERSION)'
	@touch $@

.PHONY: lock
lock: $(UV_STAMP) ## Resolve requirements/*.in into the hash-locked requirements/*.lock, keeping locked versions (LOCK_ARGS=--upgrade: the newest)
	@requirements/lock.sh $(UV_VENV)/bin/uv $(LOCK_ARGS)

# The image wheelhouses add PyTorch (and its CUDA libraries) outside the image locks, at dev.lock's versions:
# dev.lock without its hashes, which differ between torch's CUDA and CPU builds.
$(TORCH_CONSTRAINTS): $(DEV_LOCK)
	@mkdir -p $(@D) && sed -n 's/^\([A-Za-z0-9][^ ]*==[^ ]*\).*/\1/p' $< > $@

##@ Main

# The kubeconfig of the target: the local cluster writes its own; kind and cloud use the user's.
TARGET_KUBECONFIG = $(if $(filter local,$(RESOLVED_TARGET)),$(CACHE)/cluster/kubeconfig,$${KUBECONFIG:-$$HOME/.kube/config})

# `make up` builds the training image with PyTorch so that the digits Job runs (WITH_TORCH=false: a
# smaller image, and the digits Job and the server's digits model left out of the release).
UP_WITH_TORCH := $(if $(filter command line environment,$(origin WITH_TORCH)),$(WITH_TORCH),true)
# (PLATFORM_ARGS is expanded unquoted by the ansible-playbook recipe: the JSON carries its own single quotes.)
UP_PLATFORM_ARGS := $(if $(filter true,$(UP_WITH_TORCH)),PLATFORM_ARGS="-e '{\"platform_values\":{\"model-server\":{\"server\":{\"models\":{\"digits-cnn\":\"models:/digits-cnn@champion\"}}}}}'",PLATFORM_ARGS="-e '{\"platform_values\":{\"training-job\":{\"jobs\":{\"digits\":{\"enabled\":false}}}}}'")

.PHONY: up
up: ## The whole platform on a cluster (MLKUBE_TARGET=auto|kind|local|cloud): provision, images, install, train, serve
	@t0=$$(date +%s); \
	 $(MAKE) cluster-up && $(MAKE) images WITH_TORCH=$(UP_WITH_TORCH) && $(MAKE) platform-up $(UP_PLATFORM_ARGS) && \
	 KUBECONFIG=$(TARGET_KUBECONFIG) ansible/scripts/print-access.sh $(RESOLVED_TARGET) $(NAMESPACE) mlkube && \
	 echo "==> make up took $$(( $$(date +%s) - t0 ))s"

# The user's shell: the pinned kubectl, helm and kubectl-argo-rollouts (.cache/bin) first on PATH, and the
# target's kubeconfig (the local cluster's own; kind and cloud merge theirs into ~/.kube/config). On cloud, the
# kubeconfig's exec plugin (`aws eks get-token`) is the AWS CLI of the Ansible venv: its bin goes last on PATH, so
# that its python and ansible never shadow the user's.
ENV_PATH = $(BIN):$$PATH$(if $(filter cloud,$(RESOLVED_TARGET)),:$(ANSIBLE_VENV)/bin)
ENV_LINES = export PATH="$(ENV_PATH)"$(if $(filter local,$(RESOLVED_TARGET)),; export KUBECONFIG="$(CACHE)/cluster/kubeconfig")

.PHONY: env
env: ## Print the shell lines for the pinned kubectl/helm and the cluster: eval "$$(make env)"
	@echo '$(ENV_LINES)' | tr ';' '\n' | sed 's/^ //'

.PHONY: shell
shell: ## A shell with the pinned kubectl/helm on PATH, pointed at the cluster (exit to leave)
	@echo "==> $(RESOLVED_TARGET) cluster shell: kubectl, helm and kubectl argo rollouts are the pinned ones; exit to leave"
	@eval '$(ENV_LINES)' && exec "$${SHELL:-/bin/bash}" -i

.PHONY: down
down: ## Remove the platform and the cluster (leaves nothing running)
	@$(MAKE) cluster-down

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: test-tools
test-tools: ansible-venv helm crane kubeconform helm-docs vegeta ## Build the tools the suites share (none needs .venv): the first step of `make test`, beside test-lint

TEST_SUITES += test-tools

# Suites joined by + run side by side; on 2 cores what decides the time is how busy both cores are. test-tools
# builds the tools the suites share (Go builds and the Ansible venv) while test-lint builds .venv and lints, so
# that no two suites of a later step build one tool at once. The trainer and server suites mostly wait on the
# servers, databases and subprocesses they start, and the Ansible suite's local path leaves a core idle while it
# links binaries, builds images and loads them, so they share a step with the Ansible tests that need no cluster;
# the charts, monitoring and cluster smoke suites follow on that cluster, beside the kind suite (its own cluster in
# Docker, from the binaries the local path built). They share .venv and Debian packages,
# whose apt-get calls take turns (APT_GET). Every suite of TEST_SUITES must be in one step.
TEST_STEPS := test-lint+test-tools test-training+test-server+test-ansible-offline+test-ansible-cluster \
  test-charts+test-monitoring+test-cluster+test-kind test-e2e
$(foreach suite,$(TEST_SUITES),$(if $(filter $(suite),$(subst +, ,$(TEST_STEPS))),,$(error TEST_STEPS: $(suite) is in no step)))
$(foreach suite,$(subst +, ,$(TEST_STEPS)),$(if $(filter $(suite),$(TEST_SUITES)),,$(error TEST_STEPS: $(suite) is no suite)))

.PHONY: test
test: ## Run every test suite (linters, trainers, server, charts, monitoring, ansible, cluster, end to end)
	@# The Ansible suite leaves the cluster it brought up running, with the images loaded (its second run of the
	@# playbook changed nothing): the cluster and end-to-end suites use it next, without provisioning it again.
	@MLKUBE_KEEP_CLUSTER=1 MLKUBE_E2E_PROVISIONED=1 tests/run_suites.sh "$(MAKE)" $(TEST_STEPS)
