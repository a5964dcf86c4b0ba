##@ End to end

# The suite runs on the local cluster, or on kind with MLKUBE_TARGET=kind (MLKUBE_KIND_NODE_IMAGE_BUILD=true on a
# machine without a registry): the kind cluster is brought up with routes from this host into its Service and pod
# ranges (MLKUBE_KIND_HOST_ROUTES=true), which the suite calls as it does the local cluster's.
E2E_TARGET := $(if $(filter kind,$(MLKUBE_TARGET)),kind,local)
E2E_CLUSTER_ENV := $(if $(filter kind,$(E2E_TARGET)),MLKUBE_KIND_HOST_ROUTES=true)
E2E_PYTEST := MLKUBE_E2E_TARGET=$(E2E_TARGET) $(PYTEST)
VEGETA_STAMP := $(CACHE)/tools/vegeta-$(VEGETA_VERSION)/vegeta

.PHONY: test-e2e
test-e2e: venv helm ansible-venv vegeta ## The whole platform on the local cluster (or MLKUBE_TARGET=kind): install, train, serve, observe, roll out (rolling, canary, blue-green), GPU scheduling, registry backup and restore
	@if [ "$${MLKUBE_E2E_PROVISIONED:-}" = 1 ]; then echo "==> cluster and images: brought up by the Ansible suite"; else \
	   $(E2E_CLUSTER_ENV) $(MAKE) cluster-up MLKUBE_TARGET=$(E2E_TARGET) && $(MAKE) images MLKUBE_TARGET=$(E2E_TARGET); fi
	@$(E2E_PYTEST) tests/e2e -v -s --durations=0
	@# The chart check that needs a live cluster (the rollout trigger's run in test-cluster), on the local cluster.
	@if [ $(E2E_TARGET) = local ]; then $(PYTEST) tests/charts -q -m cluster; fi

TEST_SUITES += test-e2e

.PHONY: test-faults
test-faults: venv helm ansible-venv vegeta ## Only the fault suite (part of test-e2e): pods, processes, MLflow, PostgreSQL and a Job killed, 3x overload, the cluster restarted, under load; prints the table
	@$(E2E_CLUSTER_ENV) $(MAKE) cluster-up MLKUBE_TARGET=$(E2E_TARGET)
	@$(MAKE) images MLKUBE_TARGET=$(E2E_TARGET)
	@MLKUBE_E2E_CLUSTER_RESTART=1 $(E2E_PYTEST) tests/e2e/test_03b_faults.py -v -s

.PHONY: vegeta
vegeta: $(VEGETA_STAMP) ## Build vegeta (go install, pinned) into .cache/bin: the fault suite's overload at a fixed request rate

$(VEGETA_STAMP):
	@echo "==> vegeta v$(VEGETA_VERSION)"
	@mkdir -p $(@D) $(BIN)
	@cd "$${TMPDIR:-/tmp}" && GOBIN=$(@D) GOWORK=off GOFLAGS=-mod=mod go install github.com/tsenart/vegeta/v12@v$(VEGETA_VERSION)
	@ln -sf $@ $(BIN)/vegeta
