# The one interface: make demo | test | cluster-up NODES=N | cluster-down | bench.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
NODES ?= 5
export VENV

.PHONY: help venv demo test sanity units lint integration collection testbed-deps testbed-build cluster-up cluster-down cluster-status bench bench-smoke test-interruptions clean

help:
	@echo "make demo               the main job: a patch-and-reboot roll-out against a local test cluster"
	@echo "make test               the whole test suite (sanity, units, lint, integration)"
	@echo "make cluster-up NODES=5 start the local test cluster; make cluster-down stops it"
	@echo "make bench              side-by-side benchmarks, printed as tables"
	@echo "make test-interruptions every step of a node's reboot killed (SIGKILL, SIGTERM) and re-run: 26 cases"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	tools/venv.sh "$(PYTHON)" "$(VENV)"
	@touch $@

collection: venv
	@tools/stage-collection.sh

demo: venv
	tools/demo.sh

test: venv
	tests/run.sh

sanity units lint integration: venv
	tests/run.sh $@

testbed-deps:
	tests/testbed/install-deps.sh

testbed-build:
	tests/testbed/build.sh

# The binaries are built on first use (cached outside the clone); the Debian packages are installed when missing.
cluster-up: venv testbed-deps
	tests/testbed/testbed up --nodes $(NODES)

cluster-down:
	tests/testbed/testbed down

cluster-status:
	tests/testbed/testbed status

bench: venv testbed-deps
	benchmarks/run.sh

bench-smoke: venv testbed-deps
	benchmarks/run.sh --smoke

# The suite runs one step per phase; this runs every step under both signals (about 30 minutes of two cores).
test-interruptions: venv testbed-deps
	tests/testbed/build.sh >/dev/null && tools/stage-collection.sh >/dev/null
	NODEPATCH_INTERRUPT_ALL=1 NODEPATCH_SKIP_STAGE=1 $(VENV)/bin/python -m pytest \
	  tests/integration/reliability/test_interruptions.py -v -p no:cacheprovider --timeout 3600

clean:
	rm -rf .build tests/output
