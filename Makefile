# Quickstart (fresh machine, Python 3.11):
#   make run    # set up .venv and run the whole search on the built-in mock survey
#   make test   # set up .venv (+ test tools) and run the test suite (what CI runs)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# Tests and runs stay offline and quiet.
export TF_CPP_MIN_LOG_LEVEL := 2
CORES ?= all
# The exact versions installed (and tested by CI); `make setup PIP_CONSTRAINTS=`
# installs the newest releases pyproject.toml allows, `make lock` refreshes them.
PIP_CONSTRAINTS ?= envs/constraints.txt
export LENSFINDER_PIP_CONSTRAINTS := $(PIP_CONSTRAINTS)

.PHONY: run test setup test-system-deps report dryrun lint lock clean

# The stamp holds the constraints it was installed with: other ones reinstall.
ifneq ($(shell cat $(VENV)/.installed 2>/dev/null),$(PIP_CONSTRAINTS))
.PHONY: $(VENV)/.installed
endif
$(VENV)/.installed: pyproject.toml $(PIP_CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(PIP_CONSTRAINTS),-c $(PIP_CONSTRAINTS)) -e '.[test]'
	echo '$(PIP_CONSTRAINTS)' > $@

setup: $(VENV)/.installed

# Snakemake writes the report in place: a killed report would look whole, so it is written under another
# name and renamed.
REPORT := snakemake --report results/.report.part.html && mv results/.report.part.html results/report.html

run: setup
	snakemake --cores $(CORES)
	$(REPORT)
	@lensfinder digest results/candidates/ranked.parquet
	@echo "ranked candidates: results/candidates/ranked.csv (.parquet, .fits, ...); one page per candidate:"
	@echo "results/candidates/summary/index.html; figures: results/figures/; report: results/report.html"

report: setup
	$(REPORT)

dryrun: setup
	snakemake -n

lint: setup
	$(BIN)/python -m ruff check src tests benchmarks
	snakemake --lint

# Debian packages the tests drive for real: Chromium (grading page) and
# Slurm (cluster profile; installed by tests/slurm/run_slurm_test.sh itself).
test-system-deps:
	@bash tests/install_system_deps.sh

test: setup test-system-deps
	$(BIN)/python -m pytest -q

# New pins (envs/constraints.txt) from an unconstrained install; then `make test`.
lock:
	bash envs/lock.sh $(PYTHON)

# results/ and Snakemake's records (metadata, logs, locks); its conda environments
# (.snakemake/conda, `--sdm conda`, built once on a login node: docs/cluster.md) stay
clean:
	rm -rf results
	if [ -d .snakemake ]; then find .snakemake -mindepth 1 -maxdepth 1 ! -name conda -exec rm -rf {} +; fi
