# Two commands for a fresh machine (see README):
#   make demo   runs the main job on bundled data
#   make test   runs the test suite
# Each sets up .venv first, idempotently. torch==2.13.0 (the CPU build) is installed before
# anything else: an unpinned torch would make pip pull several GB of CUDA packages.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup demo demo-fast test test-fast browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

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

test: setup browser
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900

test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" --timeout=600

clean:
	rm -rf $(VENV) runs/demo .pytest_cache
