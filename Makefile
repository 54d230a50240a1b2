# sanic-ms workshop. `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
N ?= 00

.PHONY: setup test demo lint format coverage clean db-stop

# Reinstall only when the dependency set changed.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

test: lint
	$(PY) -m pytest
	$(PY) -m grader check

demo: setup
	$(PY) -m examples.demo

# Style, strict types on sanic_ms/ ([tool.mypy]) and the import contracts ([tool.importlinter]:
# the framework imports nothing of the course; no import cycles).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Coverage of what `make test` runs (sanic_ms, examples, grader), as the 2018 workflow had it:
# reports/coverage.xml (for CI) and reports/html/index.html. `make coverage PYTEST_ARGS=tests/`.
coverage: setup
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest $(PYTEST_ARGS)
	$(PY) -m coverage xml -o reports/coverage.xml
	$(PY) -m coverage html -d reports/html
	@echo "total coverage: $$($(PY) -m coverage report --format=total)% (details: reports/html/index.html)"

db-stop: setup
	$(PY) -m grader.postgres stop

clean:
	rm -rf $(VENV) .pytest_cache reports

# Create the example tables and apply pending migrations; `make migrate ARGS=--status` lists them.
# The framework's CLI reads DATABASE_URL; unset, it is the development server (grader.postgres).
.PHONY: migrate
migrate: setup
	DATABASE_URL="$${DATABASE_URL:-$$($(PY) -m grader.postgres url)}" \
		$(PY) -m sanic_ms migrate examples.users examples.cities examples.roles $(ARGS)

# Labs: `make lab N=03` runs lab 03's tests; `make watch N=03` reruns them on every save, each run
# stopped after 120 s with a line naming the lab (`make watch N=03 ARGS="--timeout 60"`).
.PHONY: lab watch
lab: setup
	$(PY) -m pytest labs/$(N)

watch: setup
	$(PY) -m grader watch $(N) $(ARGS)

# Lab 00 load test, blocking vs async handlers, results in reports/load/:
# `make load`, or e.g. `make load USERS=100 RUN_TIME=30 DELAY_MS=20 SOURCE=labs/00`.
USERS ?= 50
RUN_TIME ?= 15
DELAY_MS ?= 50
SOURCE ?=
.PHONY: load bench
load: setup
	$(PY) -m bench.load --users $(USERS) --run-time $(RUN_TIME) --delay-ms $(DELAY_MS) $(if $(SOURCE),--source $(SOURCE))

# Framework overhead vs bare Sanic, and the end-to-end users lookup (wrk if installed, else
# locust); results in reports/bench/ and BENCHMARKS.md. `make bench BENCH_ARGS="--rounds 3"`.
bench: setup
	$(PY) -m bench.overhead $(BENCH_ARGS)

# The three example services under locust for SOAK_TIME seconds, with faults on a schedule
# (collector down, a downstream down, backends terminated, a table locked); per-phase numbers,
# memory, backends, row-count integrity and a chart in reports/soak/. `make soak SOAK_TIME=600`.
SOAK_TIME ?= 180
.PHONY: soak
soak: setup
	$(PY) -m bench.soak --duration $(SOAK_TIME) $(SOAK_ARGS)

# Jupyter Lab on the lab notebooks (notebooks/NN_slug.ipynb), the labs/ folder a click away.
# The kernel "sanic-ms-workshop" is this virtualenv's Python, registered inside .venv
# (--sys-prefix) so nothing outside the repository changes. Containers often run as root.
.PHONY: notebooks
notebooks: setup
	$(PY) -m ipykernel install --sys-prefix --name sanic-ms-workshop --display-name "Python (sanic-ms workshop)"
	$(PY) -m jupyter lab --ServerApp.ip=127.0.0.1 --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(JUPYTER_ARGS)

# Instructors: `make check` is the labs' pre-flight (also the last step of `make test`); grading a
# class: `python -m grader grade SUBMISSIONS --out grades` (see README, "For instructors").
.PHONY: check
check: setup
	$(PY) -m grader check
