# riskstream - the two commands a newcomer needs:
#   make demo   start a local Kafka and a worker, stream a simulated flash sale, print the outcome
#   make console-demo  the same, then the reviewers' console on the sale (user and password printed) until Ctrl-C
#   make test   run the linters and the test suite
#   make lint   pyflakes checks, import order and the import layers
#   make chaos  the fault scenarios on a local broker of their own: lost, conflicting and drifting orders, recovery
#   make fuzz   a million coverage-guided executions over the parsers (atheris); the corpus grows in tests/fuzz/corpus
#   make model  rebuild the default anomaly model (models/anomaly.skops) from simulated traffic
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RS     := $(VENV)/bin/riskstream
STAMP  := $(VENV)/.installed
DEMO   := var/demo
ORDERS ?= 30000
SEED   ?= 11
REPLAY_ORDERS ?= 200000
MODEL_ORDERS ?= 100000
MODEL_SEED ?= 1
HELDOUT_SEED ?= 2

.PHONY: demo console-demo replay-demo test lint install native tools console-tools bench model model-eval clean fuzz chaos

install: $(STAMP)

$(STAMP): pyproject.toml native/Cargo.toml native/pyproject.toml $(wildcard native/src/*.rs)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(MAKE) --no-print-directory native
	@touch $@

# The native state core (Rust, PyO3) where cargo is (rustup's ~/.cargo/bin counts); without it
# riskstream runs on pure Python.
native:
	@export PATH="$$PATH:$$HOME/.cargo/bin"; if command -v cargo >/dev/null; then \
		nice -n 10 $(PY) -m pip install --quiet ./native && $(RS) --version; \
	else echo "cargo not found: riskstream_native is not built, riskstream runs on pure Python" >&2; fi

test: $(STAMP) tools lint
	$(PY) -m pytest

# Pyflakes checks, import order, and the import layers written in pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(VENV)/bin/ruff check riskstream tests
	$(VENV)/bin/lint-imports --no-cache

# kcat (librdkafka's command-line client) for the interop test; a Debian package.
tools:
	@command -v kcat >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq kcat >/dev/null; \
		else echo "kcat is missing: sudo apt-get install kcat" >&2; exit 1; fi; }
	@$(MAKE) --no-print-directory console-tools

# Debian's PostgreSQL (the case store's server tests), chromium and chromium-driver (the console's browser test).
console-tools:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing:$$missing (sudo apt-get install$$missing)" >&2; exit 1; fi; \
	fi

CHAOS_ORDERS ?= 20000
CHAOS_FAULTS ?= 5
chaos: $(STAMP)
	nice -n 10 $(RS) chaos --orders $(CHAOS_ORDERS) --faults $(CHAOS_FAULTS)

FUZZ_RUNS ?= 1000000
fuzz: $(STAMP)
	$(PY) -m pip install --quiet -e '.[fuzz]'
	nice -n 10 $(PY) tests/fuzz/campaign.py --runs $(FUZZ_RUNS)

demo: $(STAMP)
	$(RS) demo --orders $(ORDERS) --seed $(SEED)

CONSOLE_PORT ?= 8080
console-demo: $(STAMP)
	$(RS) demo --orders $(ORDERS) --seed $(SEED) --console --console-port $(CONSOLE_PORT)

replay-demo: $(STAMP)
	@mkdir -p $(DEMO)
	$(RS) simulate --orders $(REPLAY_ORDERS) --seed $(SEED) -o $(DEMO)/orders.jsonl
	$(RS) rules check rules
	$(RS) replay $(DEMO)/orders.jsonl --label-field label --group-field scenario \
		-o $(DEMO)/decisions.jsonl --report $(DEMO)/report.json

bench: $(STAMP)
	@mkdir -p var/bench
	$(RS) simulate --orders 1000000 --seed 1 -o var/bench/orders-1m.jsonl
	$(RS) bench replay var/bench/orders-1m.jsonl

# The default model: trained on one simulated day (seed 1); labels only calibrate its thresholds.
model: $(STAMP)
	@mkdir -p var/model
	$(RS) simulate --orders $(MODEL_ORDERS) --seed $(MODEL_SEED) -o var/model/train.jsonl
	$(RS) model train var/model/train.jsonl --label-field label --rules riskstream/default_rules -o models/anomaly.skops

# Held-back evaluation: another simulated day (seed 2); report and pictures under var/model/.
model-eval: $(STAMP)
	@mkdir -p var/model
	$(RS) simulate --orders $(MODEL_ORDERS) --seed $(HELDOUT_SEED) -o var/model/heldout.jsonl
	$(RS) model evaluate var/model/heldout.jsonl --model models/anomaly.skops --label-field label \
		--rules riskstream/default_rules --report var/model/evaluation.json

clean:
	rm -rf $(VENV) var build *.egg-info native/target
