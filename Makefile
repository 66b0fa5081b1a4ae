# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install, run the clarify evaluation on the bundled tasks (offline)
#   make test   create .venv, install, run ruff, mypy and the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clarify eval --policy direct offline --turn-budgets 1,3,5 --pairwise offline:direct --out runs/demo --resume
	@echo "report: runs/demo/report.md"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench evals training graphs examples
	$(BIN)/ruff format --check src tests bench evals training graphs examples
	$(BIN)/mypy src

test: lint browser test-verl
	$(BIN)/pytest -q

# Headless Chromium for the web-page example's test, from Debian's packages; installed only when missing. If it
# cannot be installed (no root, no package index), the browser test skips and says why.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) || \
		echo "warning: could not install chromium and chromium-driver; the browser test will skip"

# verl's own environment (verl 0.9.1 pins transformers<5.11, which the train extra cannot share). It holds
# only the requirements -- the package's dependencies and `verl` extra from pyproject.toml, plus VERL_EXTRA --
# and the tests import this tree through PYTHONPATH, so one environment can serve several clones: point
# VERL_VENV at a kept folder (e.g. VERL_VENV=$$HOME/.cache/langgraph-clarify/venv-verl). It is rebuilt only
# when the requirement list changes (the stamp is named after its hash); a fresh build takes ~3.5 min, 2 GB.
.PHONY: test-verl clean-verl
VERL_VENV ?= .venv-verl
VERL_EXTRA := torch==2.13.0 pytest>=8 pytest-timeout>=2.3
VERL_REQS = $(PYTHON) -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*sys.argv[1:], *p['dependencies'], *p['optional-dependencies']['verl'], sep='\n')" $(foreach r,$(VERL_EXTRA),'$(r)')
VERL_STAMP := $(VERL_VENV)/.installed-$(shell $(VERL_REQS) | sha256sum | cut -c1-16)

$(VERL_STAMP):
	rm -f $(VERL_VENV)/.installed-*
	test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_REQS) > $(VERL_VENV)/requirements.txt
	$(VERL_VENV)/bin/pip install -q --upgrade pip
	$(VERL_VENV)/bin/pip install -q -r $(VERL_VENV)/requirements.txt
	touch $@

test-verl: $(VERL_STAMP)
	PYTHONPATH=$(CURDIR)/src $(VERL_VENV)/bin/pytest -q tests/verl

clean: clean-verl
clean-verl:
	rm -rf $(VERL_VENV)

bench: $(STAMP)
	$(BIN)/python bench/eval_throughput.py
	$(BIN)/python bench/oracle_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
