# relkd: `make demo` (the main job) and `make test` create .venv (Python 3.10) when missing.
PY := .venv/bin/python
SETUP := .venv/.relkd-installed

.PHONY: setup demo test test-fast test-zoo bench lint format clean

$(SETUP): requirements.txt pyproject.toml tools/setup_env.sh
	bash tools/setup_env.sh

setup: $(SETUP)

demo: $(SETUP)
	$(PY) tools/demo.py

# The suite at TEST_THREADS torch threads, then the numerical folders again at one thread: a
# comparison that holds only at one thread count fails here, not on someone else's CPU
# (tests/README.md). `make test NUMERIC_PASS=` skips the second pass.
TEST_THREADS ?= 2
NUMERIC_TESTS := tests/modeling tests/layers tests/losses tests/distillers
NUMERIC_PASS ?= 1
test: $(SETUP)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
		$(PY) -m pytest tests -q --timeout 900 -m "not zoo" $(PYTEST_ARGS)
	$(if $(NUMERIC_PASS),OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		$(PY) -m pytest $(NUMERIC_TESTS) -q --timeout 900 $(PYTEST_ARGS))

# the in-process suite: no test that starts another process (marked `cli` by tests/conftest.py),
# no sweep or training run marked `slow` and no model-zoo sweep; `make test` runs everything
test-fast: $(SETUP)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
		$(PY) -m pytest tests -q --timeout 900 -m "not zoo and not cli and not slow" $(PYTEST_ARGS)

# every detectron2 model-zoo config as a teacher and every zoo detection LazyConfig as a distilled
# student (tests/test_model_zoo.py; `make test` runs one per family and format); CI runs it
test-zoo: $(SETUP)
	OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
		$(PY) -m pytest tests/test_model_zoo.py -q --timeout 900 -m zoo $(PYTEST_ARGS)

# distillation overhead of every digits recipe (random teachers: timing needs no training);
# BENCH_ARGS="--device cuda --amp" on a GPU
BENCH_CONFIGS := $(sort $(filter-out %_student.py %_distill_base.py,$(wildcard configs/digits/*_R18_*.py)))
bench: $(SETUP)
	$(PY) tools/benchmark.py $(BENCH_CONFIGS) --random-teacher --output output/benchmark/digits $(BENCH_ARGS)

lint: $(SETUP)
	$(PY) -m ruff check projects tests tools train_net.py configs
	$(PY) -m black --check -l 100 projects tests tools train_net.py configs

format: $(SETUP)
	$(PY) -m ruff check --fix projects tests tools train_net.py configs
	$(PY) -m black -q -l 100 projects tests tools train_net.py configs

clean:
	rm -rf .venv output
