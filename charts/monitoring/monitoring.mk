##@ Monitoring content (Prometheus rules and alerts, Grafana dashboards)

MONITORING_DIR := charts/monitoring
MONITORING_SRC := $(MONITORING_DIR)/dashboards-src
MONITORING_GEN := $(PY) -m mlkube_monitoring
GRAFANA_SCHEMA_DIR := $(CACHE)/grafana-schema
GRAFANA_SCHEMA_STAMP := $(GRAFANA_SCHEMA_DIR)/.stamp-$(GRAFANA_SCHEMA_VERSION)-$(TYPESCRIPT_VERSION)
# The generators (dashboards-src) and the dashboard SDK come with `make venv` (requirements/dev.lock).
MONITORING_TOOLS_STAMP := $(CACHE)/monitoring-tools-debian.stamp

.PHONY: monitoring-tools
monitoring-tools: $(MONITORING_TOOLS_STAMP) $(GRAFANA_SCHEMA_STAMP) ## Install promtool, prometheus, the Pushgateway (Debian) and Grafana's dashboard schema

.PHONY: prometheus-tools
prometheus-tools: $(MONITORING_TOOLS_STAMP) ## Install prometheus, promtool and the Pushgateway (Debian's packages)

$(MONITORING_TOOLS_STAMP):
	@echo "==> monitoring tools"
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v prometheus-pushgateway >/dev/null; then \
	  echo "installing Debian packages prometheus prometheus-pushgateway"; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends \
	    prometheus prometheus-pushgateway >/dev/null; \
	fi
	@mkdir -p $(CACHE) && touch $@

# Grafana's dashboard schema as published on npm, and tsc to check the dashboards against it.
$(GRAFANA_SCHEMA_STAMP): versions.env
	@echo "==> Grafana dashboard schema (@grafana/schema $(GRAFANA_SCHEMA_VERSION), typescript $(TYPESCRIPT_VERSION))"
	@if ! command -v npm >/dev/null; then \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	fi
	@mkdir -p $(GRAFANA_SCHEMA_DIR) && rm -f $(GRAFANA_SCHEMA_DIR)/.stamp-*
	@npm install --prefix $(GRAFANA_SCHEMA_DIR) --no-audit --no-fund --silent \
	  @grafana/schema@$(GRAFANA_SCHEMA_VERSION) typescript@$(TYPESCRIPT_VERSION)
	@touch $@

MONITORING_RENDERED := $(CACHE)/monitoring-rendered

.PHONY: monitoring-generate
monitoring-generate: venv $(MONITORING_TOOLS_STAMP) ## Regenerate the rule and dashboard files (with placeholders for slo:/alerts:) from dashboards-src
	@$(MONITORING_GEN) generate

.PHONY: monitoring-check
monitoring-check: venv $(MONITORING_TOOLS_STAMP) ## Generated files up to date; promtool check + unit-test the rules rendered with the chart's values
	@$(MONITORING_GEN) check
	@$(MONITORING_GEN) render $(MONITORING_RENDERED)
	@cd $(MONITORING_RENDERED) && promtool check rules rules/*.yaml && promtool test rules rules-tests/*.yaml

.PHONY: test-monitoring
test-monitoring: venv $(MONITORING_TOOLS_STAMP) $(GRAFANA_SCHEMA_STAMP) ## Rules, alerts and dashboards: promtool, schema, and live against the real server
	@rm -f $(CACHE)/monitoring-live.txt
	@$(PYTEST) tests/monitoring -q
	@if [ -f $(CACHE)/monitoring-live.txt ]; then echo "==> live monitoring stack"; cat $(CACHE)/monitoring-live.txt; fi

TEST_SUITES += test-monitoring

# The chart tests render the rules and dashboards with the generator (and promtool) to compare with Helm's output.
test-charts: $(MONITORING_TOOLS_STAMP)
