# `make demo` and `make test` each build .venv from nothing when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages some tests need, as PATH:PACKAGE: Fashion-MNIST's files, the
# browser of the playground's end-to-end tests and the database server of the shared
# sweep tests. Installed as root when missing.
DEBIAN_NEEDS ?= /usr/share/datasets/fashion-mnist:dataset-fashion-mnist /usr/bin/chromium:chromium \
                /usr/lib/postgresql:postgresql
APT_GET      ?= apt-get

.PHONY: demo test bench clean debian-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neuralab demo

test: $(STAMP) debian-packages
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# Never fails: without root or apt-get (or when an install fails) it prints a note, and the
# tests that need the package skip naming it. A first install may fail only for want of
# package lists, so a failure is retried once after `apt-get update`.
debian-packages:
	@for need in $(DEBIAN_NEEDS); do \
	    path=$${need%%:*}; pkg=$${need##*:}; \
	    if [ -e "$$path" ]; then continue; fi; \
	    if [ "$$(id -u)" != 0 ] || ! command -v $(APT_GET) >/dev/null 2>&1; then \
	        echo "note: $$path is missing; install Debian's $$pkg as root to run the tests that need it (they skip without it)"; \
	        continue; \
	    fi; \
	    echo "installing Debian's $$pkg"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    $(APT_GET) install -y -q $$pkg >/dev/null 2>&1 \
	    || { $(APT_GET) update -q >/dev/null && $(APT_GET) install -y -q $$pkg >/dev/null; } \
	    || echo "note: could not install $$pkg; the tests that need it will skip"; \
	done

bench: $(STAMP)
	$(BIN)/python benchmarks/spiral_step.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
