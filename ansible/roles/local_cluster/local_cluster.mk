# Local single-node cluster (ansible/roles/local_cluster). Included by the root Makefile after ansible/ansible.mk:
# every target runs the playbook on the local inventory, which installs the node's packages with apt and runs the
# role's script for the rest (ansible/README.md, "One path").

LOCAL_CLUSTER_PLAYBOOK = $(ANSIBLE_PLAYBOOK) -i inventories/local/hosts.yml site.yml --tags cluster
# Target that brings the cluster up before the smoke suite (cluster-up MLKUBE_TARGET=local also installs helm).
CLUSTER_UP_TARGET ?= local-cluster-up
# KEEP_CLUSTER=1 (default) leaves the cluster running after test-cluster for the end-to-end suite;
# KEEP_CLUSTER=0 takes it down afterwards, whatever the result.
KEEP_CLUSTER ?= 1
CLUSTER_TEST_ARGS ?=

##@ Local cluster

.PHONY: local-cluster-deps local-cluster-build local-cluster-up local-cluster-down local-cluster-purge \
	local-cluster-status test-cluster

local-cluster-deps: ansible-venv ## Install the node's Debian packages (containerd, runc, CNI plugins, iptables) if missing
	@$(LOCAL_CLUSTER_PLAYBOOK) -e mlkube_action=deps

local-cluster-build: ansible-venv ## Install the node's packages and build kube-*, kubectl, etcd, CoreDNS and kwok into .cache/cluster-bin (cached by version)
	@$(LOCAL_CLUSTER_PLAYBOOK) -e mlkube_action=build

local-cluster-up: ansible-venv ## Start the local cluster (idempotent; builds what is missing); kubeconfig in .cache/cluster/kubeconfig
	@$(LOCAL_CLUSTER_PLAYBOOK) -e mlkube_action=up

local-cluster-down: ansible-venv ## Stop the local cluster and the images' Docker engine, clean the host (state kept for a warm start)
	@$(LOCAL_CLUSTER_PLAYBOOK) -e mlkube_action=down

local-cluster-purge: ansible-venv ## Stop the local cluster and delete its state (binaries stay cached)
	@$(LOCAL_CLUSTER_PLAYBOOK) -e mlkube_action=purge

local-cluster-status: ansible-venv ## Show the local cluster's components, nodes and system pods
	@$(LOCAL_CLUSTER_PLAYBOOK) -e mlkube_action=status

# The rollout trigger's cluster tests (tests/trigger, marker cluster) run here too: they need the Argo Rollouts CRDs
# that `make images` stages, not the platform.
test-cluster: venv helm ## Bring the local cluster up, run its smoke suite and the rollout trigger against it (KEEP_CLUSTER=0 to stop it after)
	@$(MAKE) $(CLUSTER_UP_TARGET)
	@status=0; $(or $(PYTEST),.venv/bin/python -m pytest -c tests/pytest.ini) tests/cluster tests/trigger -m cluster $(CLUSTER_TEST_ARGS) || status=$$?; \
	  if [ "$(KEEP_CLUSTER)" = 0 ]; then $(MAKE) local-cluster-down; fi; exit $$status

TEST_SUITES += test-cluster
