# `make run` starts the dashboard on the sample cohort; `make test` runs every test.
# Both install what is missing first: a virtual environment with requirements-test.txt (the app's
# requirements.txt plus the test tools),
# and (for tests) Debian's chromium, which the browser tests drive through playwright, and Debian's R with
# survival and cmprsk, the oracle of the survival tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-requirements
PORT ?= 8501
CHROMIUM := /usr/bin/chromium

.PHONY: run test chromium system-packages bench sample clean

$(INSTALLED): requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $@

run: $(INSTALLED)
	$(BIN)/streamlit run serve.py --server.port $(PORT)

# Playwright cannot download its own browser here; it drives Debian's chromium.
chromium:
	@test -x $(CHROMIUM) || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# What the tests need from Debian, installed in one apt-get run when any is missing: R with
# survival and cmprsk is the oracle of the survival statistics (tests/test_*_r.py); nginx runs
# deploy/nginx.conf for real in tests/test_proxy_logs.py.
system-packages: chromium
	@missing=""; \
	Rscript -e 'library(survival); library(cmprsk)' >/dev/null 2>&1 || missing="$$missing r-base-core r-cran-survival r-cran-cmprsk"; \
	{ command -v nginx >/dev/null || test -x /usr/sbin/nginx; } || missing="$$missing nginx openssl"; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing; fi

# TEST_WORKERS=2: two workers, one per core (pytest-xdist), about 16 minutes instead of 29; a file's tests stay
# in one worker, so a test module's server (tests/browser.py's app_url) starts once. The default is one process
# (0): with two, a loaded machine has shown timing races in browser tests (two fixed; a failed download's button
# once stayed disabled for 20 s), and CI must not depend on them.
TEST_WORKERS ?= 0
test: $(INSTALLED) system-packages
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# BENCH_LARGE=1 adds the 100,000-patient registry (generated first: a few minutes more).
BENCH_REGISTRY ?= /tmp/icans-bench-registry-10k
bench: $(INSTALLED) chromium
	$(BIN)/python benchmarks/bench_sample.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_scale.py --patients 300 10000 $(if $(BENCH_LARGE),100000,)
	test -d $(BENCH_REGISTRY) || $(BIN)/python -m icans_core sample --patients 10000 --seed 7 --out $(BENCH_REGISTRY)
	$(BIN)/python benchmarks/bench_browser.py --cohort $(BENCH_REGISTRY)

# Regenerate the bundled sample cohort and the upload template (tests check they match).
sample: $(INSTALLED)
	$(BIN)/python -m icans_core sample --patients 300 --seed 7 --out data/sample
	$(BIN)/python -m icans_core template --out data/template.xlsx
	$(BIN)/python -m icans_core sample --format redcap --patients 40 --seed 15 --out data/redcap-example

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
