# The two commands: `make book` and `make test`. Both set up .venv first if needed.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2
NAME ?=
ARGS ?=
PROFILE ?= full# make chapter ... PROFILE=quick: the quick profile's values under ARGS
# Kernels keep the memory torch frees for reuse instead of faulting it in afresh (glibc's
# defaults hand blocks over 128 KiB back to the OS): a fifth faster training, no result changed.
export MALLOC_MMAP_THRESHOLD_ = 33554432
export MALLOC_TRIM_THRESHOLD_ = 1073741824

# PROFILE and JOBS reach a shell: only the values the build knows get that far.
CORES := $(shell nproc 2>/dev/null || echo 2)
ifeq ($(filter $(PROFILE),full quick),)
$(error PROFILE must be full or quick; got '$(PROFILE)')
endif
ifneq ($(words $(PROFILE) $(JOBS)),2)
$(error PROFILE and JOBS are one word each; got PROFILE='$(PROFILE)' JOBS='$(JOBS)')
endif
ifeq ($(filter $(JOBS),$(shell seq 1 $(CORES))),)
$(error JOBS must be a whole number from 1 to $(CORES) (the cores); got '$(JOBS)')
endif

include evidence.mk

.PHONY: book test check chapter quick clean lock bench help browser baseline notebook

help:
	@echo "make book                       set up .venv, execute changed chapters, build _build/html"
	@echo "make test                       set up .venv, make check, then every chapter (quick), the site and browser checks"
	@echo "make check                      lint and unit tests (no kernels, no book): the fast tier"
	@echo "make chapter NAME=sigmoid ARGS='-p x_max 10'   run one chapter with papermill parameters"
	@echo "make bench                      run the benchmarks and print their numbers"
	@echo "make notebook NAME=sigmoid      the chapter as a notebook in _build/notebooks/ (run it with papermill, open it in Jupyter)"
	@echo "make baseline                   pin the quick profile's metrics (tests/baseline/) after an intended change"
	@echo "make lock                       re-resolve requirements.in into requirements.lock"
	@echo "make clean                      remove _build"

# The environment: rebuilt when the lock file or the package metadata changes.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; Python 3.11 is required" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# A stale or missing evidence cell is named and computed first, never rendered silently.
book: $(STAMP)
	$(CELL_MALLOC) $(PY) -m actlab.evidence compute
	$(PY) -m actlab.pipeline book --profile full --jobs $(JOBS)

# The browser tests drive Debian's Chromium (Playwright cannot download a browser here).
# A failed install is not fatal here: the other tests still run and the browser tests say why
# they skip (with CI=true they fail instead).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "warning: installing chromium failed; the browser tests will skip (with CI=true they fail)"; \
	  else echo "warning: chromium is missing and cannot be installed here (not root, or no apt-get); the browser tests will skip (with CI=true they fail)"; fi; }

# The fast tier: lint (the chapters' code cells too) and the unit tests; no kernel, no book.
check: $(STAMP) evidence-check
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m actlab.chapterlint
	$(PY) -m pytest -q -n $(JOBS) -m "not book" --dist loadfile

# Everything: check, then the quick book, the site and the browser tests.
test: check browser evidence-spot   # the spot check: one block of a stored cell, recomputed from scratch
	$(PY) -m pytest -q -n $(JOBS) -m book --dist worksteal   # the quick book is built once, under the build lock

# NAME is checked against the chapters before any shell sees it, then passed quoted. ARGS is
# split into words by the shell on purpose (several -p KEY VALUE pairs): quote a value that
# holds spaces, e.g. ARGS="-p widths '[1, 2, 4]'".
CHAPTER_NAMES := $(basename $(notdir $(wildcard chapters/*.md)))
ifneq ($(filter chapter notebook,$(MAKECMDGOALS)),)
ifeq ($(strip $(NAME)),)
$(error usage: make chapter NAME=<chapter> ARGS='-p key value ...'; chapters: $(CHAPTER_NAMES))
endif
ifneq ($(words $(NAME)),1)
$(error NAME must be one chapter name; got '$(NAME)'; chapters: $(CHAPTER_NAMES))
endif
ifeq ($(filter $(NAME),$(CHAPTER_NAMES)),)
$(error NAME must be a chapter; got '$(NAME)'; chapters: $(CHAPTER_NAMES))
endif
endif

chapter: $(STAMP)
	$(PY) -m actlab.pipeline chapter '$(NAME)' --profile $(PROFILE) $(ARGS)

# A chapter as a plain notebook, outside the pipeline: to open in any Jupyter, or to execute
# with papermill directly (the command is tested in tests/test_pipeline.py).
notebook: $(STAMP)
	mkdir -p _build/notebooks
	$(VENV)/bin/jupytext --to notebook --set-kernel python3 -o _build/notebooks/'$(NAME)'.ipynb chapters/'$(NAME)'.md
	@echo "run it:  $(VENV)/bin/papermill _build/notebooks/$(NAME).ipynb _build/notebooks/$(NAME).out.ipynb -p KEY VALUE"

# Pin the quick profile's numbers and verdict words (tests/baseline/quick_metrics.json, with this
# CPU's fingerprint) on purpose; actlab/baseline.py says what is pinned and how closely.
baseline: $(STAMP)
	$(PY) -m actlab.pipeline execute --profile quick --jobs $(JOBS)
	$(PY) -c "from actlab import baseline, pipeline; \
	  print('pinned', baseline.write(pipeline.collect_metrics('quick')), 'metrics in', baseline.BASELINE)"

quick: $(STAMP)
	$(PY) -m actlab.pipeline book --profile quick --jobs $(JOBS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

lock:
	$(PYTHON) -m venv /tmp/actlab-lock && /tmp/actlab-lock/bin/pip install --quiet -r requirements.in
	/tmp/actlab-lock/bin/pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/' > requirements.lock
	rm -rf /tmp/actlab-lock

clean:
	rm -rf _build
