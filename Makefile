# statsd: the commands of the README.  Only python3 and make are needed.
PYTHON ?= python3

.PHONY: run test bench clean

## run: serve data/brfss_sample.csv on http://127.0.0.1:5000
run:
	$(PYTHON) -m statsd

## test: the whole suite, with pytest when it is installed, else with unittest
test:
	@if $(PYTHON) -c "import pytest" 2>/dev/null; then \
		echo "$(PYTHON) -m pytest"; $(PYTHON) -m pytest; \
	else \
		echo "$(PYTHON) -m unittest discover -s tests (pytest is not installed)"; \
		$(PYTHON) -m unittest discover -s tests; \
	fi

## bench: ingest and serving benchmark against standard-library baselines
bench:
	$(PYTHON) -m statsd.tools.bench

## clean: remove results, logs and caches
clean:
	rm -f results/job_id_* results/.job_id_* webserver.log webserver.log.*
	rm -rf .pytest_cache statsd/__pycache__ tests/__pycache__
