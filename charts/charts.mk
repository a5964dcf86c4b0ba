##@ Helm charts

# Charts in dependency order; the umbrella chart `mlkube` pulls the others in by file:// path.
CHARTS := model-server training-job mlflow monitoring mlkube
CHART_TOOLS := $(CACHE)/tools
SCHEMA_DIR := $(CACHE)/schemas/kubernetes-$(KUBERNETES_VERSION)
# Gateway API kinds the charts render (HTTPRoute) and manifests/gateway/ applies (Gateway, GatewayClass).
GATEWAY_API_CRDS := httproutes gateways gatewayclasses
# Argo Rollouts kinds the model-server chart renders with a progressive strategy (manifests/crds/<name>-crd.yaml),
# and Traefik's CRDs (its TraefikService carries the canary weights behind the gateway).
ARGO_ROLLOUTS_CRDS := rollout analysis-template
TRAEFIK_CRDS := docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml
# KEDA's ScaledObject (the model-server chart's `autoscaling.keda`).
KEDA_CRDS := config/crd/bases/keda.sh_scaledobjects.yaml
SCHEMA_STAMP := $(SCHEMA_DIR)/.stamp-$(PROMETHEUS_OPERATOR_VERSION)-$(GATEWAY_API_VERSION)-$(KSERVE_VERSION)-$(ARGO_ROLLOUTS_VERSION)-$(TRAEFIK_VERSION)-$(KEDA_VERSION)-$(shell (sha256sum charts/tools/build_schemas.py; echo $(GATEWAY_API_CRDS) $(ARGO_ROLLOUTS_CRDS)) 2>/dev/null | sha256sum | cut -c1-8)
KUBECONFORM_STAMP := $(CHART_TOOLS)/kubeconform-$(KUBECONFORM_VERSION)/kubeconform
HELM_DOCS_STAMP := $(CHART_TOOLS)/helm-docs-$(HELM_DOCS_VERSION)/helm-docs
# Every chart's README.md from its values.yaml (`# --` comments) through the one template charts/README.md.gotmpl.
# Run outside any go.mod of the checkout, so the download never touches one.
GO_DOWNLOAD = cd "$${TMPDIR:-/tmp}" && GOWORK=off GOFLAGS=-mod=mod go mod download -json $(1) | $(PY) -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if "Error" in d else print(d["Dir"])'
# A module's zip: Go downloads it even where it refuses to extract it (a module that needs a newer Go).
GO_MODULE_ZIP = cd "$${TMPDIR:-/tmp}" && { GOWORK=off GOFLAGS=-mod=mod go mod download -json $(1) || true; } | $(PY) -c 'import json,sys; d=json.load(sys.stdin); print(d["Zip"]) if d.get("Zip") else sys.exit(d.get("Error", "no zip"))'
# The images the charts deploy, from platform.env (the charts' defaults must agree; tests/charts checks).
CHART_IMAGE_ARGS := --set model-server.image.tag=$(IMAGE_TAG) --set training-job.image.tag=$(IMAGE_TAG) \
  --set mlflow.image.tag=$(IMAGE_TAG)

.PHONY: helm
helm: ## Install helm HELM_VERSION into .cache/bin (the cluster_tools role: go install from the Go module proxy)
	@if ! $(BIN)/helm version --short 2>/dev/null | grep -qx 'v$(HELM_VERSION)'; then \
	  $(MAKE) ansible-venv && echo "==> helm v$(HELM_VERSION) (go install, through ansible/roles/cluster_tools)" && \
	  $(ANSIBLE_PLAYBOOK) -i inventories/local/hosts.yml site.yml --tags tools; \
	fi

.PHONY: kubeconform
kubeconform: $(KUBECONFORM_STAMP) ## Build kubeconform (go install, pinned) into .cache/bin

$(KUBECONFORM_STAMP):
	@echo "==> kubeconform v$(KUBECONFORM_VERSION)"
	@mkdir -p $(@D) $(BIN)
	@GOBIN=$(@D) GOFLAGS=-mod=mod go install github.com/yannh/kubeconform/cmd/kubeconform@v$(KUBECONFORM_VERSION)
	@ln -sf $@ $(BIN)/kubeconform && $(BIN)/kubeconform -v

.PHONY: helm-docs
helm-docs: $(HELM_DOCS_STAMP) ## Build helm-docs (go install, pinned) into .cache/bin: the charts' READMEs

$(HELM_DOCS_STAMP):
	@echo "==> helm-docs v$(HELM_DOCS_VERSION)"
	@mkdir -p $(@D) $(BIN)
	@cd "$${TMPDIR:-/tmp}" && GOBIN=$(@D) GOWORK=off GOFLAGS=-mod=mod go install github.com/norwoodj/helm-docs/cmd/helm-docs@v$(HELM_DOCS_VERSION)
	@ln -sf $@ $(BIN)/helm-docs

.PHONY: chart-promtool
chart-promtool: ## Install promtool (Debian's prometheus package) to check the self-contained Prometheus config
	@command -v promtool >/dev/null || { echo "==> promtool (Debian package prometheus)"; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends prometheus >/dev/null; }

.PHONY: chart-schemas
chart-schemas: $(SCHEMA_STAMP) ## Generate the JSON schemas (Kubernetes, Prometheus Operator, Gateway API, KServe, Argo Rollouts, Traefik, KEDA) into .cache/schemas

$(SCHEMA_STAMP): charts/tools/build_schemas.py | venv
	@echo "==> schemas for Kubernetes $(KUBERNETES_VERSION), prometheus-operator $(PROMETHEUS_OPERATOR_VERSION), gateway-api $(GATEWAY_API_VERSION), kserve $(KSERVE_VERSION), argo-rollouts $(ARGO_ROLLOUTS_VERSION), traefik $(TRAEFIK_VERSION), keda $(KEDA_VERSION)"
	@mkdir -p $(CACHE)/wheels
	@k8s=$$($(call GO_DOWNLOAD,k8s.io/kubernetes@v$(KUBERNETES_VERSION))); \
	 promop=$$($(call GO_DOWNLOAD,github.com/prometheus-operator/prometheus-operator@v$(PROMETHEUS_OPERATOR_VERSION))); \
	 gwapi=$$($(call GO_DOWNLOAD,sigs.k8s.io/gateway-api@v$(GATEWAY_API_VERSION))); \
	 argo=$$($(call GO_MODULE_ZIP,github.com/argoproj/argo-rollouts@v$(ARGO_ROLLOUTS_VERSION))); \
	 traefik=$$($(call GO_MODULE_ZIP,github.com/traefik/traefik/v3@v$(TRAEFIK_VERSION))); \
	 keda=$$($(call GO_MODULE_ZIP,github.com/kedacore/keda/v2@v$(KEDA_VERSION))); \
	 $(PY) -m pip download --quiet --no-deps --dest $(CACHE)/wheels kserve==$(KSERVE_VERSION); \
	 rm -rf $(SCHEMA_DIR) && \
	 $(PY) charts/tools/build_schemas.py --out $(SCHEMA_DIR) \
	   --kubernetes-openapi $$k8s/api/openapi-spec/v3 \
	   --kserve-wheel $(CACHE)/wheels/kserve-$(KSERVE_VERSION)-py3-none-any.whl \
	   $$(for crd in servicemonitors podmonitors prometheusrules; do \
	        echo --crd $$promop/example/prometheus-operator-crd/monitoring.coreos.com_$$crd.yaml; done) \
	   $$(for crd in $(GATEWAY_API_CRDS); do \
	        echo --crd $$gwapi/config/crd/standard/gateway.networking.k8s.io_$$crd.yaml; done) \
	   $$(for crd in $(ARGO_ROLLOUTS_CRDS); do echo --crd-in-zip "$$argo!manifests/crds/$$crd-crd.yaml"; done) \
	   --crd-in-zip "$$traefik!$(TRAEFIK_CRDS)" \
	   --crd-in-zip "$$keda!$(KEDA_CRDS)"
	@touch $@

.PHONY: chart-deps
chart-deps: helm ## Package the sub-charts into the umbrella chart (helm dependency update, offline: file:// only)
	@$(BIN)/helm dependency update --skip-refresh charts/mlkube >/dev/null

.PHONY: chart-docs
chart-docs: venv helm-docs ## Bump the versions of changed charts (charts/versions.lock), update charts/mlkube/Chart.lock and regenerate every README.md (helm-docs)
	@$(PY) charts/tools/chart_versions.py
	@$(MAKE) --no-print-directory chart-deps
	@$(PY) charts/tools/chart_readmes.py $(BIN)/helm-docs

.PHONY: chart-render
chart-render: chart-deps ## Print the umbrella chart rendered with the kind profile (what `helm install` would create)
	@$(BIN)/helm template mlkube charts/mlkube --namespace $(NAMESPACE) -f charts/mlkube/profiles/kind.yaml $(CHART_IMAGE_ARGS)

.PHONY: test-charts
test-charts: venv helm kubeconform helm-docs chart-schemas chart-deps chart-promtool ## Chart tests: lint, render every scenario, schemas, policies
	@MLKUBE_SCHEMA_DIR=$(SCHEMA_DIR) $(PYTEST) tests/charts -q -m "not cluster"

TEST_SUITES += test-charts
