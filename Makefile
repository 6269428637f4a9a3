# The two commands: `make book` and `make test`. Everything installs itself into .venv.
# `make test-fast` skips the tests marked slow (the smoke reproduction, the browser, training runs).
# `make reproduce PROFILE=cpu JOBS=2 [RESULTS=dir]` runs the workflow (Snakefile) of a profile: only what is missing
# (smoke: ~1 min, cpu: ~12 hours on 2 cores, 24.1 job-hours as measured in results/cpu/timings.csv, paper: GPU-days;
# README for a GPU machine and SLURM).
# `make bench` measures speed and memory (a few minutes; benchmarks/RESULTS.md).
PYTHON  ?= python3.11
PROFILE ?= cpu
JOBS ?= 1
RESULTS ?=
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
APT     := dataset-fashion-mnist graphviz chromium

.PHONY: test test-fast book install system reproduce bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) system

# Debian packages: real Fashion-MNIST, graphviz for cell drawings, chromium for the browser test.
system:
	@missing=""; for p in $(APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (Debian/Ubuntu: sudo apt-get install$$missing)"; fi; fi

# two pytest-xdist workers (one torch thread each); the book's tests stay on one worker (they share its build)
XDIST := -n 2 --dist loadgroup

test: install
	$(PY) -m pytest -q $(XDIST)

test-fast: install
	$(PY) -m pytest -q $(XDIST) -m "not slow"

book: install
	$(PY) -m gsnas.book --profile $(PROFILE)

reproduce: install
	$(PY) -m gsnas.reproduce --profile $(PROFILE) --jobs $(JOBS) $(if $(RESULTS),--results $(RESULTS))

bench: install
	$(PY) benchmarks/bench.py --results results/$(PROFILE)

clean:
	rm -rf $(VENV) build *.egg-info _build book/generated .snakemake
