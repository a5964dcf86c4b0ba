##@ End to end

E2E_TARGET := local

.PHONY: test-e2e
test-e2e: venv helm ansible-venv ## The whole platform on the local cluster: install, train, serve, observe, roll out (rolling, canary, blue-green), GPU scheduling, registry backup and restore
	@$(MAKE) cluster-up MLKUBE_TARGET=$(E2E_TARGET)
	@$(MAKE) images MLKUBE_TARGET=$(E2E_TARGET)
	@$(PYTEST) tests/e2e -v -s --durations=0
	@# The trigger and chart checks that need the platform's CRDs on a live cluster.
	@$(PYTEST) tests/trigger tests/charts -q -m cluster

TEST_SUITES += test-e2e

.PHONY: test-faults
test-faults: venv helm ansible-venv ## Only the fault suite (part of test-e2e): server pod and process killed, MLflow down, PostgreSQL killed, under load; prints the table
	@$(MAKE) cluster-up MLKUBE_TARGET=$(E2E_TARGET)
	@$(MAKE) images MLKUBE_TARGET=$(E2E_TARGET)
	@$(PYTEST) tests/e2e/test_03b_faults.py -v -s
