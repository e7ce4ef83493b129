# The two commands of README.md. Each creates .venv and installs the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU wheel (on this machine's disk). For a GPU machine: make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" ...
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= bicpl_demo_output
# `make test-min`: a venv of its own with every dependency at the lower bound setup.cfg gives
VENV_MIN ?= .venv-min

.PHONY: demo test test-min lint install clean

$(BIN)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

lint: $(BIN)/.installed
	$(BIN)/ruff check .

demo: $(BIN)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/bicpl demo --output-dir $(DEMO_OUT)

test: $(BIN)/.installed
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider --timeout=600

# The lower bounds are true: each dependency pinned to its `>=` bound (tools/min_constraints.py), the `smoke` tests
# (build, train, LoRA, diagnose, save/load, datasets.Nifti, metrics). torch is TORCH_SPEC: its floor has no CPU wheel here.
test-min:
	rm -rf $(VENV_MIN)
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_MIN)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(PYTHON) tools/min_constraints.py --skip torch > $(VENV_MIN)/constraints.txt
	$(VENV_MIN)/bin/python -m pip install --quiet --constraint $(VENV_MIN)/constraints.txt -e ".[dev]"
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 $(VENV_MIN)/bin/python -m pytest -q -p no:cacheprovider \
		--timeout=600 -m smoke

clean:
	rm -rf $(VENV) $(VENV_MIN) $(DEMO_OUT) *.egg-info
