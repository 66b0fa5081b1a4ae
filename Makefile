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
	@echo "report: runs/demo/report.md; plots: $$(cd runs/demo && ls *.png | paste -sd ' ')"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench evals training graphs examples
	$(BIN)/ruff format --check src tests bench evals training graphs examples
	$(BIN)/mypy src

test: lint browser
	$(BIN)/pytest -q

# Headless Chromium for the web-page example's test, from Debian's packages; installed only when missing. If it
# cannot be installed (no root, no package index), the browser test skips and says why.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) || \
		echo "warning: could not install chromium and chromium-driver; the browser test will skip"

# Every benchmark in bench/, one after the other (about 20 minutes); writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
