# statsd: the commands of the README.  Only python3 and make are needed.
PYTHON ?= python3
# Where `make dist` writes the one-file statsd.
DIST ?= dist/statsd.pyz

.PHONY: help run test bench dist clean

## run: serve data/brfss_sample.csv on http://127.0.0.1:5000
run:
	$(PYTHON) -m statsd

## test: the whole suite, with pytest when it is installed (two runs side by side), else with unittest
test:
	@if $(PYTHON) -c "import pytest" 2>/dev/null; then \
		echo "$(PYTHON) tests/shards.py"; $(PYTHON) tests/shards.py; \
	else \
		echo "$(PYTHON) -m unittest discover -s tests (pytest is not installed)"; \
		$(PYTHON) -m unittest discover -s tests; \
	fi

## bench: ingest and serving benchmark against standard-library baselines
bench:
	$(PYTHON) -m statsd.tools.bench

## dist: build dist/statsd.pyz, statsd as one file: run it anywhere with python3 statsd.pyz
dist:
	$(PYTHON) -m statsd.tools.dist --output $(DIST)

## clean: remove results, logs, caches and dist/
clean:
	rm -f results/job_id_* results/.job_id_* webserver.log webserver.log.*
	rm -rf .pytest_cache statsd/__pycache__ statsd/tools/__pycache__ tests/__pycache__ dist

## help: list these targets
help:
	@sed -n 's/^## \([a-z][a-z]*\): \(.*\)/  make \1\t\2/p' $(MAKEFILE_LIST) | expand -t 14
