# make test       set up .venv if needed, run the test suite
# make reproduce  set up .venv if needed, execute the notebooks headless, write figures/ (no tracked file changes)
# make readme     a maintainer's act: reproduce (default mode) and rewrite README.md's table and docs/gallery/
# make e2e        every notebook run in JupyterLab in a headless Chromium (apt-get install chromium); screenshots in build/e2e/
# make bench      every benchmark in benchmarks/, figures recorded in benchmarks/results.json
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# The image datasets: $TOPOKIT_DATA if set, else ../shared/data when it exists (the project's
# machines keep a copy there); otherwise the loaders look in data/ and say what to put there.
ifeq ($(TOPOKIT_DATA),)
ifneq ($(wildcard ../shared/data),)
export TOPOKIT_DATA := $(abspath ../shared/data)
endif
endif

.PHONY: setup test test-fast reproduce reproduce-quick reproduce-full readme bench e2e strip clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,e2e]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

reproduce: $(STAMP)
	$(PY) -m topokit reproduce $(ARGS)

reproduce-quick: $(STAMP)
	$(PY) -m topokit reproduce --quick $(ARGS)

reproduce-full: $(STAMP)
	$(PY) -m topokit reproduce --full $(ARGS)

readme: $(STAMP)
	$(PY) -m topokit reproduce --update-readme $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py $(ARGS)

e2e: $(STAMP)
	$(PY) e2e/run_e2e.py $(ARGS)

strip: $(STAMP)
	$(PY) -m topokit strip notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
