# `make demo` and `make test` each build .venv from nothing when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Fashion-MNIST for the tests that read it, from Debian's package (installed as root when missing)
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
FASHION_MNIST_PKG ?= dataset-fashion-mnist
APT_GET           ?= apt-get

.PHONY: demo test bench clean fashion-mnist

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neuralab demo

test: $(STAMP) fashion-mnist
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# Never fails: without root or apt-get (or when the install fails) it prints a note, and the
# tests that need the files skip naming the package. The first install may fail only for want
# of package lists, so a failure is retried once after `apt-get update`.
fashion-mnist:
	@if [ -d "$(FASHION_MNIST_DIR)" ]; then \
	    :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v $(APT_GET) >/dev/null 2>&1; then \
	    echo "note: $(FASHION_MNIST_DIR) is missing; install Debian's $(FASHION_MNIST_PKG) as root" \
	         "to run the Fashion-MNIST tests (they skip without it)"; \
	else \
	    echo "installing Debian's $(FASHION_MNIST_PKG) for the Fashion-MNIST tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    $(APT_GET) install -y -q $(FASHION_MNIST_PKG) >/dev/null 2>&1 \
	    || { $(APT_GET) update -q && $(APT_GET) install -y -q $(FASHION_MNIST_PKG); } \
	    || echo "note: could not install $(FASHION_MNIST_PKG); the Fashion-MNIST tests will skip"; \
	fi

bench: $(STAMP)
	$(BIN)/python benchmarks/spiral_step.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
