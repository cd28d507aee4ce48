# toposhape: every target works from a fresh clone; they all depend on the set-up stamp.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.toposhape-setup
DATASTAMP := data/.toposhape-offline
# The PyPI builds of torch and torchvision, pinned as a pair (torchvision 0.28 needs torch 2.13).
TORCH_PIN := torch==2.13.0 torchvision==0.28.0
# pip must not prefer a local torch wheel from a find-links folder: a CPU-only torch
# breaks the PyPI torchvision (missing torchvision::nms). An empty folder overrides it.
PIP       := PIP_FIND_LINKS=$(abspath $(VENV))/no-find-links $(PY) -m pip
CHAPTER   ?= connectivity
PROFILE   ?= smoke

# Compile the CUDA kernels too when a CUDA toolkit is installed (no GPU needed to build).
ifeq ($(origin CUDA_HOME), undefined)
ifneq ($(wildcard /usr/local/cuda/bin/nvcc),)
export CUDA_HOME := /usr/local/cuda
endif
endif

.PHONY: help setup data chromium test lint unit notebooks book reproduce bench clean

help:
	@echo "make setup                                  venv, torch, toposhape + compiled kernels, Jupyter kernel"
	@echo "make data                                   MNIST + Fashion-MNIST from offline sources, checksum-verified"
	@echo "make test                                   ruff, unit tests, every chapter at its smoke profile (nbval), the book"
	@echo "make book                                   the HTML book (book/_build/html), checked in headless Chromium"
	@echo "make reproduce CHAPTER=name PROFILE=smoke|full   run one chapter, save results/<name>/<profile>.json"
	@echo "make bench                                  kernel, training-step, augmentation benchmarks -> results/bench/"

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard cuda_ext/*)
	python3 -m venv $(VENV)
	mkdir -p $(VENV)/no-find-links
	$(PIP) install --quiet --upgrade setuptools wheel ninja
	$(PIP) install --quiet $(TORCH_PIN)
	$(PIP) install --quiet --no-build-isolation -e '.[test,bench,book]' $(TORCH_PIN)
	$(PY) -m ipykernel install --sys-prefix --name toposhape --display-name "Python (toposhape)"
	$(PY) -c "import toposhape, toposhape._ops as o; print('toposhape kernels: cpu', o.has_kernel('cpu'), 'cuda', o.has_kernel('cuda'))"
	touch $@

data: $(DATASTAMP)

$(DATASTAMP): $(STAMP)
	$(PY) -m toposhape.data fetch --root data
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: $(STAMP) $(DATASTAMP) chromium
	$(PY) -m pytest -n 2 --dist loadfile tests

notebooks: $(STAMP) $(DATASTAMP)
	$(PY) -m toposhape.chapters test-smoke

test: lint unit notebooks book

# Debian's Chromium: the book is checked in it as a reader would see it (and the unit
# tests of those checks need it). Installed with apt when missing (as root, or via sudo).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then APT="apt-get"; \
	  elif command -v sudo >/dev/null; then APT="sudo apt-get"; \
	  else echo "error: the book's checks need Chromium: apt-get install chromium (as root)" >&2; exit 1; fi; \
	  $$APT update -qq && DEBIAN_FRONTEND=noninteractive $$APT install -y -qq --no-install-recommends chromium; }

book: $(STAMP) $(DATASTAMP) chromium
	$(PY) -m toposhape.book_assets mathjax
	# --all: every page depends on the library and the results files, which Sphinx does not track
	$(VENV)/bin/jupyter-book build book --all -W --keep-going
	$(PY) -m toposhape.book_check
	@echo "open book/_build/html/index.html"

reproduce: $(STAMP) $(DATASTAMP)
	$(PY) -m toposhape.chapters reproduce $(CHAPTER) $(PROFILE)

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf book/_build .pytest_cache .ruff_cache build *.egg-info
