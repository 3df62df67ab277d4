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

# The cells train long sweeps in one process: with the Makefile's malloc settings (memory kept for
# reuse) their heap grew with every evaluation, up to 2 GB for relu's race; glibc's defaults keep
# them under the 1.5 GB budget, for some speed.
PLAIN_MALLOC := env -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_

evidence: $(STAMP)
	$(PLAIN_MALLOC) $(PY) -m actlab.evidence compute --device $(DEVICE) --jobs $(JOBS) $(if $(CELL),--cell '$(CELL)')

evidence-check: $(STAMP)
	$(PY) -m actlab.evidence check

evidence-spot: $(STAMP)
	$(PLAIN_MALLOC) $(PY) -m actlab.evidence spot-check --device $(DEVICE)
