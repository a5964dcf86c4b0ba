##@ Lint (ruff, mypy, shellcheck, the dependency locks)

LINT_VENV := $(CACHE)/lint-venv
LINT_STAMP := $(LINT_VENV)/.stamp-ruff-$(RUFF_VERSION)
# Every shell script in the repository: the executables, the libraries cluster.sh sources, and the scripts whose
# name a program expects (kind's docker shim, the kind node's entrypoint).
SHELL_SCRIPTS = $(shell git ls-files -- '*.sh' .ci/run ansible/roles/kind_cluster/files/docker-shim/docker \
  ansible/roles/kind_cluster/files/node-image/mlkube-entrypoint)

$(LINT_STAMP): versions.env
	@echo "==> ruff $(RUFF_VERSION) (.cache/lint-venv)"
	@rm -rf $(LINT_VENV) && python3 -m venv $(LINT_VENV)
	@$(LINT_VENV)/bin/pip install --quiet 'ruff==$(RUFF_VERSION)'
	@touch $@

.PHONY: shellcheck-tool
shellcheck-tool: ## Install shellcheck (Debian's package, SHELLCHECK_VERSION) when it is missing or another version
	@if [ "$$(dpkg-query -W -f '$${Version}' shellcheck 2>/dev/null)" != "$(SHELLCHECK_VERSION)" ]; then \
	  echo "==> apt-get install shellcheck=$(SHELLCHECK_VERSION)"; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends \
	    "shellcheck=$(SHELLCHECK_VERSION)" >/dev/null; \
	fi

.PHONY: test-lint
test-lint: venv $(LINT_STAMP) shellcheck-tool ## ruff (lint, format check) and mypy on the Python code, shellcheck on every shell script, the requirements/*.lock checks
	@$(LINT_VENV)/bin/ruff check .
	@$(LINT_VENV)/bin/ruff format --check .
	@$(PY) -m mypy
	@shellcheck --external-sources --severity=warning $(SHELL_SCRIPTS)
	@echo "ruff, mypy and shellcheck: clean ($(words $(SHELL_SCRIPTS)) shell scripts)"
	@$(PYTEST) tests/lint -q

.PHONY: lint-fix
lint-fix: $(LINT_STAMP) ## Apply ruff's safe fixes and its formatting to every Python file
	@$(LINT_VENV)/bin/ruff check --fix .
	@$(LINT_VENV)/bin/ruff format .

TEST_SUITES += test-lint
