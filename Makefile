# marketcast: two commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU build of torch must go in first: a loose `torch` requirement would pull a CUDA build of several GB.
TORCH  := torch==2.13.0

.PHONY: install test test-fast demo bench docs clean

install: $(STAMP)

# The C kernels are compiled by the editable install: a change to them reinstalls.
$(STAMP): pyproject.toml setup.py $(wildcard src/marketcast/models/_*kernel*.[ch])
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

demo: install
	$(VENV)/bin/marketcast demo

bench: install
	$(PY) benchmarks/run_all.py

# The site, with the example notebooks executed on the real data; any warning fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 MARKETCAST_DATA_DIR="$${MARKETCAST_DATA_DIR:-$$(cd .. && pwd)/shared/data}" \
		$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build dist site
