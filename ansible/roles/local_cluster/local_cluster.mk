# Local single-node cluster (ansible/roles/local_cluster): make targets that call the role's script
# directly. Included by the root Makefile; the Ansible entry point (ansible/ansible.mk) wraps the
# same script through the role.

LOCAL_CLUSTER_SH := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))/files/cluster.sh
# Target that brings the cluster up before the smoke suite; the Ansible path can take over with
# `make test-cluster CLUSTER_UP_TARGET=cluster-up`.
CLUSTER_UP_TARGET ?= local-cluster-up
# KEEP_CLUSTER=1 (default) leaves the cluster running after test-cluster for the end-to-end suite;
# KEEP_CLUSTER=0 takes it down afterwards, whatever the result.
KEEP_CLUSTER ?= 1
CLUSTER_TEST_ARGS ?=

##@ Local cluster

.PHONY: local-cluster-deps local-cluster-build local-cluster-up local-cluster-down local-cluster-purge \
	local-cluster-status test-cluster

local-cluster-deps: ## Install the node's Debian packages (containerd, runc, CNI plugins, iptables) if missing
	@$(LOCAL_CLUSTER_SH) deps

local-cluster-build: local-cluster-deps ## Build kube-*, kubectl, etcd, CoreDNS and kwok into .cache/cluster-bin (cached by version)
	@$(LOCAL_CLUSTER_SH) build

local-cluster-up: local-cluster-build ## Start the local cluster (idempotent); kubeconfig in .cache/cluster/kubeconfig
	@$(LOCAL_CLUSTER_SH) up

local-cluster-down: ## Stop the local cluster and clean the host (state kept for a warm start)
	@$(LOCAL_CLUSTER_SH) down

local-cluster-purge: ## Stop the local cluster and delete its state (binaries stay cached)
	@$(LOCAL_CLUSTER_SH) down --purge

local-cluster-status: ## Show the local cluster's components, nodes and system pods
	@$(LOCAL_CLUSTER_SH) status

test-cluster: venv ## Bring the local cluster up and run its smoke suite (KEEP_CLUSTER=0 to stop it after)
	@$(MAKE) $(CLUSTER_UP_TARGET)
	@status=0; $(or $(PYTEST),.venv/bin/python -m pytest -c tests/pytest.ini) tests/cluster -m cluster $(CLUSTER_TEST_ARGS) || status=$$?; \
	  if [ "$(KEEP_CLUSTER)" = 0 ]; then $(LOCAL_CLUSTER_SH) down; fi; exit $$status

TEST_SUITES += test-cluster
