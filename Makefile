# marketcast: two commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU build of torch must go in first: a loose `torch` requirement would pull a CUDA build of several GB.
TORCH  := torch==2.13.0

.PHONY: install test test-fast demo bench docs clean lint check-kernels wheelhouse image base-image

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

# ruff (lint and format) and mypy, configured in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check src
	$(VENV)/bin/ruff format --check src
	$(VENV)/bin/mypy

# The kernels built with clang and with the generic branch, their tests, and the fallback paths.
check-kernels: install
	.ci/kernels $(PY)

# The site, with the example notebooks executed on the real data; any warning fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 MARKETCAST_DATA_DIR="$${MARKETCAST_DATA_DIR:-$$(cd .. && pwd)/shared/data}" \
		$(VENV)/bin/mkdocs build --strict --site-dir site

# The container image (Dockerfile). Every wheel it needs is built or fetched here on the host, with the host's pip
# configuration and certificates, into $(WHEELHOUSE); the image then installs from it with --no-index.
# No container registry here: `make base-image` then `make image BASE_IMAGE=marketcast-base:bookworm`.
DOCKER     ?= docker
BASE_IMAGE ?= python:3.11-slim-bookworm
IMAGE      ?= marketcast
VERSION    := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' src/marketcast/_version.py)
WHEELHOUSE := build/wheelhouse
# The interpreter that builds the wheels must be a 3.11, the image's (marketcast's own wheel is compiled).
WHEEL_PY   ?= $(if $(wildcard $(PY)),$(PY),$(PYTHON))

wheelhouse:
	@$(WHEEL_PY) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "wheelhouse: $(WHEEL_PY) is Python %d.%d; the image runs 3.11 (set WHEEL_PY)" % sys.version_info[:2])'
	rm -rf $(WHEELHOUSE)
	$(WHEEL_PY) -m pip wheel --quiet --wheel-dir $(WHEELHOUSE)/deps $(TORCH) .
	mkdir -p $(WHEELHOUSE)/app && mv $(WHEELHOUSE)/deps/marketcast-*.whl $(WHEELHOUSE)/app/
	@# torch's libtorch_cpu.so carries 89 MB of symbols that serve debugging torch, not running it: a stripped copy
	@# from the same wheel, which the Dockerfile lays over the installed file (none where the host has no strip).
	mkdir -p $(WHEELHOUSE)/stripped
	if command -v strip >/dev/null 2>&1; then \
	  $(WHEEL_PY) -c 'import glob, sys, zipfile; zipfile.ZipFile(glob.glob(sys.argv[1])[0]).extract("torch/lib/libtorch_cpu.so", sys.argv[2])' \
	    '$(WHEELHOUSE)/deps/torch-*.whl' $(WHEELHOUSE)/stripped \
	  && strip --strip-unneeded $(WHEELHOUSE)/stripped/torch/lib/libtorch_cpu.so \
	  && chmod 755 $(WHEELHOUSE)/stripped/torch/lib/libtorch_cpu.so; \
	else echo "wheelhouse: no strip here: the image keeps torch's symbols (about 89 MB more)"; fi

image: wheelhouse
	$(DOCKER) build --force-rm --network host --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE):$(VERSION) -t $(IMAGE):latest .
	@$(DOCKER) image inspect -f '{{.Size}}' $(IMAGE):$(VERSION) | awk '{printf "$(IMAGE):$(VERSION) %.0f MB\n", $$1/1e6}'

# A Debian bookworm base with Python 3.11 from Debian's packages (debootstrap + docker import); kept once built.
base-image:
	deploy/docker/base-image.sh marketcast-base:bookworm

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks build dist site
