##@ Training jobs

TRAIN_DIR := training-jobs
TRAIN_CONFIGS := $(TRAIN_DIR)/configs
TRAIN := $(VENV)/bin/mlkube-train
TRAIN_MODEL ?= all
TRAIN_ARGS ?=
# Wheelhouse for the offline image build: python 3.11 manylinux x86_64 wheels of requirements/training.lock.
TRAINING_WHEELHOUSE := $(CACHE)/training-wheelhouse
TRAINING_CONTEXT := $(CACHE)/training-image-context
WITH_TORCH ?= false
# Optional wheel index for torch (e.g. a CPU-only index); empty: the machine's pip configuration.
TORCH_INDEX_URL ?=
TRAINING_BASE ?= python:3.11-slim
# Every manylinux tag that Debian bookworm's glibc 2.36 runs (the CUDA wheels use 2_18 and 2_27, among others).
WHEEL_PLATFORMS := --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
  --platform manylinux2014_x86_64 $(foreach v,$(shell seq 17 36),--platform manylinux_2_$(v)_x86_64) \
  --platform linux_x86_64 --platform any

.PHONY: postgresql-server
postgresql-server: ## Debian's PostgreSQL server binaries (initdb, pg_ctl) for the tests; apt-get when missing
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "==> apt-get install postgresql"; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "postgresql missing: run 'sudo apt-get install -y postgresql' once" >&2; exit 2; fi; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends postgresql >/dev/null; \
	  service postgresql stop >/dev/null 2>&1 || true; \
	fi

.PHONY: pushgateway-server
pushgateway-server: ## Debian's Prometheus Pushgateway for the tests; apt-get when missing
	@if ! command -v prometheus-pushgateway >/dev/null; then \
	  echo "==> apt-get install prometheus-pushgateway"; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "prometheus-pushgateway missing: run 'sudo apt-get install -y prometheus-pushgateway' once" >&2; exit 2; fi; \
	  $(APT_GET) update -qq && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends prometheus-pushgateway >/dev/null; \
	  service prometheus-pushgateway stop >/dev/null 2>&1 || true; \
	fi

.PHONY: test-training
test-training: venv postgresql-server pushgateway-server ## Trainer tests: embedded SQLite and a real MLflow server on PostgreSQL
	@$(PYTEST) tests/training -q --durations=15

TEST_SUITES += test-training

.PHONY: train-penguins
train-penguins: venv ## Train the penguins classifiers (TRAIN_MODEL=all|svm|..., TRAIN_ARGS=...) into MLFLOW_TRACKING_URI or ./.mlkube
	@$(TRAIN) penguins --config $(TRAIN_CONFIGS)/penguins.yaml --model $(TRAIN_MODEL) $(TRAIN_ARGS)

.PHONY: train-xgboost
train-xgboost: venv ## Train the XGBoost penguins example (MLflow xgboost flavor, served through pyfunc) into MLFLOW_TRACKING_URI or ./.mlkube
	@$(TRAIN) penguins-xgboost $(TRAIN_ARGS)

.PHONY: train-digits
train-digits: venv ## Train the digits CNN (CUDA when present) into MLFLOW_TRACKING_URI or ./.mlkube
	@$(TRAIN) digits --config $(TRAIN_CONFIGS)/digits.yaml $(TRAIN_ARGS)

.PHONY: training-wheelhouse
training-wheelhouse: venv $(TORCH_CONSTRAINTS) ## Wheels for the offline image build in .cache/training-wheelhouse: requirements/training.lock (WITH_TORCH=true adds torch)
	@echo "==> training wheelhouse ($(TRAINING_WHEELHOUSE), torch: $(WITH_TORCH))"
	@mkdir -p $(TRAINING_WHEELHOUSE)
	@rm -f $(TRAINING_WHEELHOUSE)/mlkube_train-*.whl
	@$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(TRAINING_WHEELHOUSE) ./$(TRAIN_DIR) && rm -rf $(TRAIN_DIR)/build
	@# Exactly the locked files, each checked against its hash. The image installs within dev.lock's versions
	@# (constraints.txt), so a wheel of another version left here by an earlier lock is never picked.
	@$(PY) -m pip download --quiet --require-hashes --dest $(TRAINING_WHEELHOUSE) $(WHEEL_PLATFORMS) \
	  -r requirements/training.lock
	@cp $(TORCH_CONSTRAINTS) $(TRAINING_WHEELHOUSE)/constraints.txt
	@# With TORCH_INDEX_URL, torch itself comes from that index (e.g. CPU-only wheels, whose +cpu local
	@# version sorts above the default index's build) and its dependencies from the machine's pip index.
	@if [ "$(WITH_TORCH)" = "true" ]; then \
	  if [ -n "$(TORCH_INDEX_URL)" ]; then \
	    $(PY) -m pip download --quiet --no-deps --dest $(TRAINING_WHEELHOUSE) $(WHEEL_PLATFORMS) \
	      --index-url "$(TORCH_INDEX_URL)" 'torch==$(TORCH_VERSION)'; \
	  fi; \
	  $(PY) -m pip download --quiet --dest $(TRAINING_WHEELHOUSE) $(WHEEL_PLATFORMS) --find-links $(TRAINING_WHEELHOUSE) \
	    --constraint $(TORCH_CONSTRAINTS) 'torch==$(TORCH_VERSION)'; \
	fi
	@ls $(TRAINING_WHEELHOUSE)/*.whl | wc -l | xargs printf "    %s wheels\n"

.PHONY: training-image-context
training-image-context: training-wheelhouse ## Docker build context in .cache/training-image-context (Dockerfile, configs, wheelhouse)
	@rm -rf $(TRAINING_CONTEXT) && mkdir -p $(TRAINING_CONTEXT)
	@cp $(TRAIN_DIR)/Dockerfile $(TRAINING_CONTEXT)/Dockerfile
	@cp -r $(TRAIN_CONFIGS) $(TRAINING_CONTEXT)/configs
	@cp -r $(TRAINING_WHEELHOUSE) $(TRAINING_CONTEXT)/wheelhouse
	@git rev-parse --short=12 HEAD > $(TRAINING_CONTEXT)/code-version 2>/dev/null || echo unknown > $(TRAINING_CONTEXT)/code-version
	@echo "    context ready: docker build --build-arg BASE=... $(TRAINING_CONTEXT)"

.PHONY: training-image
training-image: training-image-context ## Build $(TRAINING_IMAGE):$(IMAGE_TAG) (TRAINING_BASE=..., WITH_TORCH=true)
	@docker build --build-arg BASE=$(TRAINING_BASE) --build-arg WITH_TORCH=$(WITH_TORCH) \
	  --build-arg CODE_VERSION=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown) \
	  -t $(TRAINING_IMAGE):$(IMAGE_TAG) $(TRAINING_CONTEXT)
