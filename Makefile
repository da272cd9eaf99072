# Everything a new machine needs: `make demo`, `make test`, `make bench`, `make docs`.
# Each target creates its virtual environment on first use and installs what it needs.
PYTHON ?= python3
# `make test VENV=.venv-oldest CONSTRAINTS=.ci/constraints-oldest.txt` (what `make
# test-oldest` runs) installs the oldest versions setup.cfg allows instead of the newest.
VENV ?= .venv
CONSTRAINTS ?=
BENCH_VENV := .venv-bench
PY := $(VENV)/bin/python
BENCH_PY := $(BENCH_VENV)/bin/python
PIP_FLAGS := --quiet --disable-pip-version-check
PIP_CONSTRAINTS := $(if $(CONSTRAINTS),--constraint $(CONSTRAINTS))

.PHONY: demo test test-fast test-slow test-oldest doctest lint typecheck bench docs compat clean

$(VENV)/.installed: setup.cfg pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY) -m pip install $(PIP_FLAGS) $(PIP_CONSTRAINTS) -e ".[test,docs,dask]"
	@$(PY) -c "from importlib.metadata import version as v; print('installed:', ', '.join(f'{p} {v(p)}' for p in ('tornado', 'toolz', 'cloudpickle', 'distributed', 'numpy', 'pytest', 'sphinx', 'mypy', 'ruff')))"
	touch $@

$(BENCH_VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BENCH_PY) || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install $(PIP_FLAGS) --upgrade pip
	$(BENCH_PY) -m pip install $(PIP_FLAGS) -e ".[bench,dask]"
	# Ray is compared where it installs; bench_runtime.py skips its rows otherwise.
	$(BENCH_PY) -m pip install $(PIP_FLAGS) ray || echo "ray did not install: its benchmark rows are skipped"
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/pipeline_modes.py

# The whole suite: the fast tests with the doctests, then the slow fault-injection
# and load tests in their own step.
test: test-fast test-slow

# The linters first: they take seconds and name the line. backends/ is collected through
# the streamz_core/backends symlink (listing it too would run its doctests twice).
test-fast: lint typecheck
	$(PY) -m pytest -m "not slow" tests streamz_core

# Style and likely bugs, on the whole checkout (rules in pyproject.toml [tool.ruff]).
lint: $(VENV)/.installed
	$(PY) -m ruff check .

# mypy --strict on the package, backends included (pyproject.toml [tool.mypy]).
typecheck: $(VENV)/.installed
	$(PY) -m mypy

# pytest exits 5 when no test carries the mark: nothing to run is not a failure.
test-slow: $(VENV)/.installed
	$(PY) -m pytest -m slow tests || [ $$? -eq 5 ]

# The same suite on the oldest versions setup.cfg allows, so a lower bound that no
# longer works is found here and not by a user.
test-oldest:
	$(MAKE) test demo VENV=.venv-oldest CONSTRAINTS=.ci/constraints-oldest.txt

bench: $(BENCH_VENV)/.installed
	$(BENCH_PY) benchmarks/run.py
	$(BENCH_PY) benchmarks/bench_runtime.py
	$(BENCH_PY) benchmarks/bench_executors.py

# streamz 0.6.4's own test suite on streamz_core (through streamz_core.compat) and on streamz
# itself (.venv-bench), counts side by side. The wheel is downloaded into build/compat (ignored
# by git). A report for now: it exits 0 whatever the tests do (compat/run.py --strict fails).
COMPAT_TEST_DEPS := pytest pytest-timeout flaky
compat: $(VENV)/.installed $(BENCH_VENV)/.installed
	$(PY) -m pip install $(PIP_FLAGS) $(COMPAT_TEST_DEPS)
	$(BENCH_PY) -m pip install $(PIP_FLAGS) $(COMPAT_TEST_DEPS) networkx graphviz
	$(PY) compat/run.py --ours $(PY) --theirs $(BENCH_PY) --timeout 30

docs: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf .venv .venv-oldest $(BENCH_VENV) docs/_build build *.egg-info .mypy_cache .ruff_cache
