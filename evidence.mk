# The evidence store (evidence/, see src/actlab/evidence.py), included by the Makefile:
#   make evidence               compute every missing or stale cell, JOBS at a time (the Makefile checks JOBS)
#   make evidence CELL=name     compute that one cell, even if it is up to date
#   make evidence-check         fail, naming each cell and its command, if one is missing or stale
#   make evidence-spot          recompute one block, drawn from the commit, against the store
# DEVICE=cuda runs the cells on a GPU (a cell that cannot says so).
PY ?= .venv/bin/python
CELL ?=
DEVICE ?= cpu

# Values reach the shell only after make has checked them: a cell name is letters, digits and
# dashes; the device one of two words.
ifneq ($(filter evidence,$(MAKECMDGOALS)),)
ifneq ($(shell printf '%s' '$(subst ','',$(CELL))' | grep -Ecv '^[A-Za-z0-9-]*$$'),0)
$(error CELL must be a cell name (letters, digits, dashes); got '$(CELL)')
endif
ifeq ($(filter cpu cuda,$(DEVICE)),)
$(error DEVICE must be cpu or cuda; got '$(DEVICE)')
endif
endif

.PHONY: evidence evidence-check evidence-spot

# The cells train long sweeps in one process. With the kernels' malloc settings, or glibc's default
# (whose mmap threshold rises to the size of the largest freed block), blocks of an evaluation's
# size come from a heap that fragments: relu's race grew to 1.8 GB. A fixed 4 MiB threshold maps
# them and gives them back: 535 MB, for a slower run (about 1.5x on relu's race).
CELL_MALLOC := env -u MALLOC_TRIM_THRESHOLD_ MALLOC_MMAP_THRESHOLD_=4194304

evidence: $(STAMP)
	$(CELL_MALLOC) $(PY) -m actlab.evidence compute --device $(DEVICE) --jobs $(JOBS) $(if $(CELL),--cell '$(CELL)')

evidence-check: $(STAMP)
	$(PY) -m actlab.evidence check

evidence-spot: $(STAMP)
	$(CELL_MALLOC) $(PY) -m actlab.evidence spot-check --device $(DEVICE)
