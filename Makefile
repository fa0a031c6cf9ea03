# cs-analysis: `make report` sets up and runs the main job, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := data/demo

.PHONY: setup browser demo report test lab lock clean-demo

setup: $(VENV)/.installed

# Installs the versions the tests passed with (constraints.txt); pyproject.toml keeps ranges.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Headless Chromium and a Japanese font: the report's PDF and the browser tests use them. Installed
# with apt-get when missing and this is root on Debian/Ubuntu; otherwise one line says what to run
# (without them a report has no PDF and the browser tests skip).
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=ja 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and fonts-ipafont-gothic (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-ipafont-gothic >/dev/null || echo "note: apt-get could not install chromium fonts-ipafont-gothic"; \
	else echo "note: no Chromium or Japanese font: no PDF, browser tests skip (sudo apt-get install chromium fonts-ipafont-gothic)"; fi

# The Spark engine (PySpark; needs Java 17+), so that the Spark parity tests run.
$(VENV)/.spark: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $@

# Refresh the tested versions: newest releases within pyproject's ranges, the whole suite, then
# constraints.txt rewritten from what passed. Review and commit the diff.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev,spark]'
	touch $(VENV)/.installed $(VENV)/.spark
	$(BIN)/python -m pytest
	{ echo "# Tested versions (make lock rewrites this file after the suite passes); make setup installs them."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^cs-analysis'; } > constraints.txt

# The demo company is generated once; delete data/demo (make clean-demo) to regenerate it.
$(DEMO)/.complete: | $(VENV)/.installed
	$(BIN)/cs-analysis demo-data --out $(DEMO)
	touch $@

demo: $(DEMO)/.complete

# The main job: the quarterly report on the demo company for its last complete fiscal quarter
# (reports/<period>/: executed notebooks, HTML without code, figures, tables, manifest.json).
# Re-running regenerates it (--force); the same data gives the same tables.
report: setup browser demo
	$(BIN)/cs-analysis validate $(DEMO)
	$(BIN)/cs-analysis report --data $(DEMO) --force

# JupyterLab on the notebooks, with this project's environment and kernel.
lab: setup demo
	$(BIN)/jupyter lab notebooks/

# pytest exits 5 when it collects no tests: say so loudly rather than fail obscurely.
test: setup browser $(VENV)/.spark
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

clean-demo:
	rm -rf $(DEMO)
