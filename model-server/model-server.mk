##@ Model server

SERVER_DIR := model-server
BENCH_DIR := $(CACHE)/bench
SKLEARN_PIN = $(shell $(PY) -c 'import sklearn; print(sklearn.__version__)')
# The digits peers run the very ONNX Runtime this server runs (.venv's).
ORT_PIN = $(shell $(PY) -c 'import onnxruntime; print(onnxruntime.__version__)')
KSERVE_STAMP := $(BENCH_DIR)/kserve-venv/.stamp-$(KSERVE_VERSION)
KSERVE_ONNX_STAMP := $(BENCH_DIR)/kserve-venv/.stamp-onnxruntime
MLSERVER_STAMP := $(BENCH_DIR)/mlserver-venv/.stamp-$(MLSERVER_VERSION)-$(MLSERVER_UVLOOP_VERSION)-mlflow$(MLFLOW_VERSION)
SERVER_WHEELHOUSE := $(CACHE)/server-wheelhouse

.PHONY: test-server
test-server: venv $(KSERVE_STAMP) prometheus-tools ## Model server tests (and the rollout trigger): real uvicorn, MLflow server, trainer, KServe SDK client and Prometheus
	@$(PYTEST) tests/server tests/trigger -q --durations=15 -m "not cluster"

TEST_SUITES += test-server

# `make serve` listens on loopback only; SERVE_HOST=0.0.0.0 make serve opens it to the network.
SERVE_HOST ?= 127.0.0.1

.PHONY: serve
serve: venv ## Serve the champion Penguins models from MLFLOW_TRACKING_URI (default: the trainers' embedded store) on SERVE_HOST:MODEL_SERVER_PORT (127.0.0.1), /metrics and health on MODEL_SERVER_METRICS_PORT
	@MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///$(ROOT)/.mlkube/mlruns.db} \
	 $(VENV)/bin/mlkube-serve --host $(SERVE_HOST) --port $(MODEL_SERVER_PORT) --metrics-port $(MODEL_SERVER_METRICS_PORT) \
	  --model models:/penguins-random-forest@champion \
	  --model models:/penguins-logistic-regression@champion \
	  --model models:/penguins-svm@champion

# KServe's SDK pins pandas 2 while .venv has pandas 3, so it gets its own virtualenv: the bench peer and the
# REST client the tests use unchanged.
$(KSERVE_STAMP):
	@echo "==> KServe $(KSERVE_VERSION) virtualenv ($(BENCH_DIR)/kserve-venv)"
	@rm -rf $(BENCH_DIR)/kserve-venv && python3 -m venv $(BENCH_DIR)/kserve-venv
	@$(BENCH_DIR)/kserve-venv/bin/pip install --quiet 'kserve==$(KSERVE_VERSION)' 'scikit-learn==$(SKLEARN_PIN)'
	@touch $@

# The bench's digits peer on the KServe SDK runs the ONNX graph with ONNX Runtime: added to the same
# virtualenv (gone with it when the KServe version changes), so the tests' KServe client is untouched.
$(KSERVE_ONNX_STAMP): $(KSERVE_STAMP)
	@echo "==> ONNX Runtime $(ORT_PIN) into the KServe virtualenv (digits bench peer)"
	@$(BENCH_DIR)/kserve-venv/bin/pip install --quiet 'onnxruntime==$(ORT_PIN)'
	@touch $@

# MLServer's scikit-learn runtime serves the Penguins pipelines; its MLflow runtime (MLflow's pyfunc, which
# runs an onnx-flavor model with ONNX Runtime) serves the digits CNN's downloaded MLflow ONNX model.
$(MLSERVER_STAMP):
	@echo "==> MLServer $(MLSERVER_VERSION) peer virtualenv ($(BENCH_DIR)/mlserver-venv)"
	@rm -rf $(BENCH_DIR)/mlserver-venv && python3 -m venv $(BENCH_DIR)/mlserver-venv
	@$(BENCH_DIR)/mlserver-venv/bin/pip install --quiet 'mlserver==$(MLSERVER_VERSION)' \
	  'mlserver-sklearn==$(MLSERVER_VERSION)' 'scikit-learn==$(SKLEARN_PIN)' 'uvloop==$(MLSERVER_UVLOOP_VERSION)' \
	  'mlserver-mlflow==$(MLSERVER_VERSION)' 'mlflow==$(MLFLOW_VERSION)' 'onnxruntime==$(ORT_PIN)'
	@touch $@

.PHONY: bench-peers
bench-peers: venv ## Virtualenvs of the benchmark peers (KServe SDK + ONNX Runtime, MLServer + sklearn and MLflow runtimes) in .cache/bench
	@$(MAKE) $(KSERVE_STAMP) || echo "bench: KServe peer could not be installed (see above); the table will say so"
	@$(MAKE) $(KSERVE_ONNX_STAMP) || echo "bench: ONNX Runtime for the KServe digits peer could not be installed (see above); the table will say so"
	@$(MAKE) $(MLSERVER_STAMP) || echo "bench: MLServer peer could not be installed (see above); the table will say so"

.PHONY: bench
bench: venv bench-peers ## This server vs KServe vs MLServer on the same trained Penguins pipelines and digits CNN: two tables (about 10 min on 2 cores)
	@$(PY) $(SERVER_DIR)/bench/run_bench.py --cache $(BENCH_DIR) $(if $(BENCH_DURATION),--duration $(BENCH_DURATION))

.PHONY: server-wheelhouse
server-wheelhouse: venv $(TORCH_CONSTRAINTS) ## Wheels for the offline image build into .cache/server-wheelhouse: requirements/server.lock (WITH_TORCH=1 adds torch)
	@echo "==> server wheelhouse ($(SERVER_WHEELHOUSE))"
	@rm -rf $(SERVER_WHEELHOUSE) && mkdir -p $(SERVER_WHEELHOUSE)
	@# Exactly the locked files, each checked against its hash, and the server's own wheel.
	@$(PY) -m pip wheel --quiet --require-hashes --wheel-dir $(SERVER_WHEELHOUSE) -r requirements/server.lock
	@$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(SERVER_WHEELHOUSE) './$(SERVER_DIR)'
	@if [ "$(WITH_TORCH)" = "1" ]; then \
	  $(PY) -m pip wheel --quiet --wheel-dir $(SERVER_WHEELHOUSE) -c $(TORCH_CONSTRAINTS) 'torch==$(TORCH_VERSION)'; \
	fi
	@ls $(SERVER_WHEELHOUSE) | wc -l | xargs -I{} echo "    {} wheels"
