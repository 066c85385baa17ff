# The course's two commands: `make lab` opens it, `make test` runs every test (nbval included).
# Both build the virtual environment first; nothing else needs installing by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NOTEBOOKS := notebooks

.PHONY: lab test unit nbval setup bench clean execute student book browser-check

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (action course)" > /dev/null
	touch $(STAMP)

# JupyterLab settings overrides of the environment (for `make lab` and the test servers): never ask
# about the official Jupyter news, never check for updates.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_OVERRIDES): $(STAMP) paperlib/tools/browser.py
	$(BIN)/python -m paperlib.tools.browser overrides > /dev/null

setup: $(STAMP) $(LAB_OVERRIDES)

lab: $(STAMP) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab --notebook-dir=$(NOTEBOOKS)

# Two pytest workers, one file each at a time (--dist loadfile keeps a notebook's cells in one
# kernel, in order); every kernel on one thread so that the two never compete for a core.
test: $(STAMP) $(LAB_OVERRIDES)
	@start=$$(date +%s); \
	PAPERLIB_MAX_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests $(NOTEBOOKS) --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:randomly -q -n 2 --dist loadfile; rc=$$?; \
	echo "make test: total $$(( $$(date +%s) - start )) s"; exit $$rc

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

nbval: $(STAMP)
	$(BIN)/python -m pytest $(NOTEBOOKS) --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -q

# Re-execute every notebook top to bottom in place (stored outputs are never hand-edited).
execute: $(STAMP)
	$(BIN)/python -m paperlib.tools.execute $(NOTEBOOKS)/*.ipynb

# Speed goals are measured and reported here, never asserted in timed tests.
bench: $(STAMP)
	@for f in tests/benchmarks/bench_*.py; do $(BIN)/python -m tests.benchmarks.$$(basename $$f .py) || exit 1; done

# A notebook's seed-and-sweep grid (notebooks/results/<stem>/grid.json): missing points only,
# os.cpu_count() one-thread workers, one JSON per point. NB=00 or a full stem; ARGS=--dry-run etc.
.PHONY: reproduce
reproduce: $(STAMP)
	@if [ -z "$(NB)" ]; then echo "make reproduce: give a notebook, e.g. make reproduce NB=00 (ARGS=--dry-run lists the points)" >&2; exit 2; fi
	$(BIN)/python -m paperlib.repro $(NB) $(ARGS)

clean:
	rm -rf $(VENV) build

# Clean copies for students (outputs removed) under build/student/.
student: $(STAMP)
	$(BIN)/python -m paperlib.tools.clean $(NOTEBOOKS)/*.ipynb --out build/student

# Extra commands (not set-up): the course website and the whole notebooks in a real browser.
# The static site from the STORED outputs (nothing is re-executed) into build/book/.
book: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/python -m sphinx -b html -q -j 1 $(NOTEBOOKS) build/book -d build/book-doctrees || exit $$?; \
	echo "make book: $$(ls build/book/*.html | wc -l) pages in build/book/ in $$(( $$(date +%s) - start )) s"

# Run All of every notebook (or NB="00b 01") in JupyterLab in Chromium, on temporary copies:
# each notebook's wall time, and whether its widgets render and respond. Report in build/browser-check/.
browser-check: $(STAMP)
	$(BIN)/python -m paperlib.tools.browser check $(NB)
