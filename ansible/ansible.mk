##@ Cluster (Ansible)

# Ansible runs from its own venv (ansible-core needs Python >= 3.12; the project's .venv is 3.11).
ANSIBLE_VENV := $(CACHE)/ansible-venv
ANSIBLE_STAMP := $(ANSIBLE_VENV)/.stamp-$(ANSIBLE_VERSION)-$(ANSIBLE_LINT_VERSION)-$(BOTO3_VERSION)-$(AWSCLI_VERSION)-$(MOTO_VERSION)-$(KUBERNETES_PYTHON_VERSION)
# profile_tasks prints each task's start time and a timing summary at the end.
ANSIBLE_ENV := ANSIBLE_CONFIG=$(ROOT)/ansible/ansible.cfg ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks \
  PROFILE_TASKS_TASK_OUTPUT_LIMIT=10 \
  PATH=$(ANSIBLE_VENV)/bin:$$PATH
ANSIBLE_PLAYBOOK := cd ansible && $(ANSIBLE_ENV) ansible-playbook
# auto: kind when Docker and kind can run, the local cluster otherwise (ansible/scripts/select-target.sh).
MLKUBE_TARGET ?= auto
export MLKUBE_TARGET
# The registry the cluster pulls the images from (host[:port][/path]): `make images` pushes them there and the
# platform role sets the charts' global.imageRegistry. Empty: the images are loaded into kind or the local cluster.
IMAGE_REGISTRY ?=
export IMAGE_REGISTRY
RESOLVED_TARGET = $(shell MLKUBE_TARGET=$(MLKUBE_TARGET) ansible/scripts/select-target.sh)
INVENTORY = inventories/$(RESOLVED_TARGET)/hosts.yml

.PHONY: ansible-venv
ansible-venv: $(ANSIBLE_STAMP) ## Install ansible, ansible-lint, boto3, the AWS CLI, moto and the kubernetes client (pinned) into .cache/ansible-venv

$(ANSIBLE_STAMP):
	@echo "==> ansible $(ANSIBLE_VERSION), ansible-lint $(ANSIBLE_LINT_VERSION), boto3 $(BOTO3_VERSION), awscli $(AWSCLI_VERSION), moto $(MOTO_VERSION), kubernetes $(KUBERNETES_PYTHON_VERSION) (.cache/ansible-venv)"
	@python=$$(ansible/scripts/find-python.sh) && rm -rf $(ANSIBLE_VENV) && $$python -m venv $(ANSIBLE_VENV)
	@$(ANSIBLE_VENV)/bin/pip install --quiet 'ansible==$(ANSIBLE_VERSION)' 'ansible-lint==$(ANSIBLE_LINT_VERSION)' \
	  'boto3==$(BOTO3_VERSION)' 'awscli==$(AWSCLI_VERSION)' 'moto[server]==$(MOTO_VERSION)' \
	  'kubernetes==$(KUBERNETES_PYTHON_VERSION)'
	@touch $@

.PHONY: cluster-up
cluster-up: ansible-venv helm ## Provision the cluster of MLKUBE_TARGET (auto|kind|local|cloud) through Ansible
	@echo "==> cluster-up: target $(RESOLVED_TARGET)"
	@$(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml --tags tools,cluster

.PHONY: cluster-down
cluster-down: ansible-venv ## Remove the cluster of MLKUBE_TARGET (leaves nothing running)
	@$(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml --tags cluster -e mlkube_action=down

.PHONY: cluster-status
cluster-status: ansible-venv ## Show the cluster of MLKUBE_TARGET: components, nodes, system pods
	@$(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml --tags cluster -e mlkube_action=status

.PHONY: platform-up
platform-up: ansible-venv helm ## Install the umbrella chart on the cluster of MLKUBE_TARGET and wait until ready (PLATFORM_ARGS: more ansible-playbook arguments)
	@$(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml --tags platform $(PLATFORM_ARGS)

# The server and training images are built from wheelhouses made on the host by their own targets.
# A fixed SOURCE_DATE_EPOCH makes the project's own wheels byte-identical from one run to the next,
# so that Docker's cache (and the cluster's import stamps) see an unchanged wheelhouse as unchanged.
.PHONY: image-wheelhouses
image-wheelhouses:
	@if [ -f model-server/Dockerfile ]; then SOURCE_DATE_EPOCH=315532800 $(MAKE) server-wheelhouse; fi
	@if [ -f training-jobs/Dockerfile ]; then SOURCE_DATE_EPOCH=315532800 $(MAKE) training-image-context; fi

# Checked before the wheelhouses and the build (minutes): a cloud cluster pulls the images from IMAGE_REGISTRY.
.PHONY: image-registry-check
image-registry-check:
	@if [ -z "$(IMAGE_REGISTRY)" ] && { [ "$(RESOLVED_TARGET)" = cloud ] || [ "$(MUST_PUSH)" = true ]; }; then \
	   echo "ERROR: set IMAGE_REGISTRY=host[:port][/path], the registry your cluster pulls from (README, 'Images in your registry')" >&2; \
	   exit 1; \
	 fi

.PHONY: images
images: image-registry-check image-wheelhouses ansible-venv ## Build the images (debootstrap base, server, training, postgres, prometheus), load them into the cluster, push them to IMAGE_REGISTRY if set
	@echo "==> images: target $(RESOLVED_TARGET)"
	@$(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml --tags images

# The images role (roles/images/tasks/push.yml) through the playbook: the registry is checked before anything runs.
.PHONY: images-push
images-push: MUST_PUSH := true
images-push: image-registry-check image-wheelhouses ansible-venv ## Build the images and push them to IMAGE_REGISTRY (host[:port][/path]; docker login first)
	@echo "==> images-push: $(IMAGE_REGISTRY)"
	@$(ANSIBLE_PLAYBOOK) -i $(INVENTORY) site.yml --tags images -e images_target=none $(IMAGES_PUSH_ARGS)

CRANE_STAMP := $(CACHE)/tools/crane-$(CRANE_VERSION)/crane

.PHONY: crane
crane: $(CRANE_STAMP) ## Build crane (go install, pinned) into .cache/bin: the image push test's registry and checks

$(CRANE_STAMP):
	@echo "==> crane v$(CRANE_VERSION)"
	@mkdir -p $(@D) $(BIN)
	@cd "$${TMPDIR:-/tmp}" && GOBIN=$(@D) GOFLAGS=-mod=mod go install github.com/google/go-containerregistry/cmd/crane@v$(CRANE_VERSION)
	@ln -sf $@ $(BIN)/crane && $(BIN)/crane version

# The plugin is built with the controller for the argo-rollouts image (cached by version in .cache/argo-rollouts).
.PHONY: argo-rollouts-plugin
argo-rollouts-plugin: ansible-venv ## Build `kubectl argo rollouts` (with the controller's image and CRDs) from Go modules into .cache/bin
	@$(ANSIBLE_PLAYBOOK) -i inventories/local/hosts.yml site.yml --tags images -e images_target=none \
	  -e images_registry= -e 'images_only=$(ARGO_ROLLOUTS_IMAGE)'
	@echo "==> $(CACHE)/bin/kubectl-argo-rollouts: put $(CACHE)/bin on PATH for 'kubectl argo rollouts'"

.PHONY: images-clean
images-clean: ansible-venv ## Stop the dockerd that `make images` started (images and the base tarball stay cached)
	@$(ANSIBLE_PLAYBOOK) -i inventories/local/hosts.yml site.yml --tags images -e images_action=stop

# Model-registry backups (MLflow's database, artifacts, auth and signing Secrets): a new folder per backup, under
# backups/ unless BACKUP names one; BACKUP_ARGS adds -e overrides (registry_backup_namespace, _release, ...).
BACKUP_ROOT := $(ROOT)/backups
MODEL_REGISTRY_PLAYBOOK = $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) model-registry.yml

.PHONY: backup
backup: ansible-venv ## Back up the model registry of the platform into BACKUP (default backups/registry-<UTC time>; BACKUP_ARGS: -e overrides)
	@folder='$(abspath $(or $(BACKUP),$(BACKUP_ROOT)/registry-$(shell date -u +%Y%m%dT%H%M%SZ)))'; \
	 $(MODEL_REGISTRY_PLAYBOOK) -e registry_backup_action=backup -e "registry_backup_dir=$$folder" $(BACKUP_ARGS)

.PHONY: restore
restore: ansible-venv ## Restore the model registry from BACKUP=<folder> into the installed platform, then restart MLflow and the servers
	@test -n '$(BACKUP)' || { echo "make restore needs BACKUP=<folder that make backup wrote>" >&2; exit 2; }
	@$(MODEL_REGISTRY_PLAYBOOK) -e registry_backup_action=restore -e "registry_backup_dir=$(abspath $(BACKUP))" $(BACKUP_ARGS)

.PHONY: ansible-lint
ansible-lint: ansible-venv ## Lint the playbook and roles (ansible-lint, production profile)
	@cd ansible && $(ANSIBLE_ENV) ansible-lint

.PHONY: test-ansible test-ansible-offline test-ansible-cluster test-kind
test-ansible: test-ansible-offline test-ansible-cluster ## Ansible tests: both parts below, one after the other

# Each part prints the slowest tasks of its playbook runs at the end (where CI time goes).
ansible_pytest = rm -f $(CACHE)/ansible/playbook-times-$(2).txt; \
	MLKUBE_ANSIBLE_VENV=$(ANSIBLE_VENV) MLKUBE_PLAYBOOK_TIMES=$(CACHE)/ansible/playbook-times-$(2).txt \
	  $(PYTEST) tests/ansible -q --durations=15 $(1); status=$$?; \
	echo "==> slowest tasks of each playbook run"; cat $(CACHE)/ansible/playbook-times-$(2).txt 2>/dev/null; exit $$status

test-ansible-offline: venv ansible-venv helm chart-deps ## Ansible tests without a cluster: syntax, lint, check mode (kind, cloud), EKS on moto, GKE kubeconfig, registry backup, long_command
	@$(call ansible_pytest,-m "not cluster and not kind",offline)

test-ansible-cluster: venv ansible-venv helm crane image-wheelhouses ## The local path for real: cluster and images up, a second run changes nothing, the images pushed, the cloud path's check mode against it
	@$(call ansible_pytest,-m cluster,cluster)

test-kind: venv ansible-venv helm image-wheelhouses ## kind for real: the node image built offline, a cluster from it (pods across nodes, DNS, policies, volumes), then the platform on kind and its printed commands; deleted after
	@$(call ansible_pytest,-m kind,kind)

# The two parts run side by side in `make test`: the local path leaves a core idle while it links, loads images
# and waits, and the other part's playbooks are one Python process each.
TEST_SUITES += test-ansible-offline test-ansible-cluster test-kind
