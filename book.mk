# The book's engine: make decides which chapters are stale and runs them, two at a time.
# Started by `python -m actlab.pipeline book|execute` (make book, make quick, the tests), which
# holds the checkout's lock, writes nothing stale and reports failures in one line each.
# The rules per chapter (what it imports, its parameters, its code cells) are generated into
# $(OUT)/rules.mk by `actlab.pipeline rules`, and regenerated when a source changes.
PROFILE ?= full
PY ?= .venv/bin/python
PACKAGE ?= src/actlab
OUT := $(if $(filter full,$(PROFILE)),_build,_build/$(PROFILE))
# a runner dies with make (its kernel follows it within a second: ipykernel watches its parent)
RUN := setpriv --pdeathsig KILL $(PY) -m actlab.pipeline

.DELETE_ON_ERROR:
.SUFFIXES:
.PHONY: html executed
html: $(OUT)/html.stamp
executed: $(OUT)/metrics.json

$(OUT)/rules.mk: _toc.yml $(wildcard chapters/*.md chapters/profiles.toml requirements.lock) $(wildcard $(PACKAGE)/*.py)
	@$(RUN) rules $(PROFILE)

include $(OUT)/rules.mk
