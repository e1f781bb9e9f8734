# The one entry point: the README, developers and CI all call these targets.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CARGO_TEST := cargo test -p ccmon-core --release

.PHONY: install system-deps demo test test-rust test-python lint bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip

# Builds the Rust extension (release) into the package and installs it with its test tools.
install: $(PY)
	$(PIP) install -e '.[test]'

demo: install
	$(VENV)/bin/ccmon demo

# The real programs the tests talk to, from Debian: Alertmanager (manager alerts), promtool and Prometheus.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v prometheus-alertmanager >/dev/null && command -v promtool >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus-alertmanager prometheus; }

test: install system-deps test-rust test-python

test-rust:
	$(CARGO_TEST)

test-python:
	$(PY) -m pytest

# Needs no extension build: ruff and mypy read the sources (and _core.pyi).
lint: $(PY)
	$(PIP) install -q ruff mypy
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	@# The stubs of the compiled module are checked against it when it is built (make install).
	if $(PY) -c "import ccmon._core" 2>/dev/null; then $(PY) -m mypy.stubtest ccmon._core; fi

bench: install
	$(PY) benches/bench_ingest.py

clean:
	rm -rf $(VENV) target
