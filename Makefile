# The two commands: `make test` and `make book`. Everything installs itself into .venv.
# `make reproduce PROFILE=cpu` re-runs the experiments (smoke: seconds, cpu: ~1 hour here, paper: GPU-days).
PYTHON  ?= python3.11
PROFILE ?= cpu
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
FMNIST  := /usr/share/datasets/fashion-mnist

.PHONY: test install data reproduce clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) data

# Real Fashion-MNIST from Debian's package (root + apt); elsewhere torchvision downloads it.
data:
	@test -d $(FMNIST) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	  else echo "Fashion-MNIST: install Debian's dataset-fashion-mnist, or let torchvision download it"; fi; }

test: install
	$(PY) -m pytest -q

reproduce: install
	$(PY) -m gsnas.reproduce --profile $(PROFILE)

clean:
	rm -rf $(VENV) build *.egg-info
