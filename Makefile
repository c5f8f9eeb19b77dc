# SPDX-License-Identifier: GPL-2.0-or-later
# pyvma developer targets.  All outputs go under $PYVMA_CACHE (default
# ~/.cache/pyvma); kernel trees are never written to.

PYTHON ?= python3
KERNELS ?= debian:7.x debian:linux-source-7.2 debian:6.12
JOBS ?= 2
APT_PACKAGES = liburcu-dev gcc make xz-utils git bubblewrap

.PHONY: all deps kernels run test check bench coverage matrix history mutate

all: test

# System tools first (apt-get update only when something is missing), then
# the Python side (pip only when an import fails).
deps:
	@missing=; \
	for tool in gcc make xz git tar dpkg-deb apt-get bwrap; do \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	echo "#include <urcu.h>" | gcc -E -x c - >/dev/null 2>&1 || missing="$$missing urcu.h"; \
	if [ -n "$$missing" ]; then \
		echo "deps: missing$$missing; installing $(APT_PACKAGES)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(APT_PACKAGES); \
	fi
	@cd / && PYVMA_SRC="$(CURDIR)" $(PYTHON) -c 'import os, cffi, pycparser, pytest, xdist, hypothesis, pyvma; \
		here = os.path.dirname(os.path.dirname(os.path.realpath(pyvma.__file__))); \
		raise SystemExit(here != os.path.realpath(os.environ["PYVMA_SRC"]))' 2>/dev/null || \
		$(PYTHON) -m pip install -q -e "$(CURDIR)"
	@$(PYTHON) -m ruff --version >/dev/null 2>&1 && $(PYTHON) -m mypy --version >/dev/null 2>&1 || \
		$(PYTHON) -m pip install -q ruff mypy

kernels: deps
	$(PYTHON) -m pyvma fetch $(KERNELS)

# The main job: every suite against the default kernel (newest Debian 7.x), with
# the report (skips name the kernel feature they need).
run: deps
	$(PYTHON) -m pyvma test --kernel debian:7.x

# Lint and type-check the package and the shim generator (configured in pyproject.toml).
check: deps
	$(PYTHON) -m ruff check pyvma vma_internal
	$(PYTHON) -m mypy

# The newest 6.12, 7.2 and 7.x (KERNELS) for every suite.
test: deps kernels
	PYVMA_KERNELS="$(KERNELS)" $(PYTHON) -m pytest -q -rs -n $(JOBS) tests

# The kernel suites on every linux-source-6.12/-7.2/-7.3 version Debian serves,
# one line per version (MATRIX_ARGS=--newest: the newest of each only).
matrix: deps
	$(PYTHON) scripts/matrix.py $(MATRIX_ARGS)

# pyvma diff on every consecutive pair of the versions the matrix knows (and the
# newest 6.12 -> 7.2 -> 7.3): each change to mm/vma*.c and the restated callers
# found (a divergence whose replay exits 1) or named; HISTORY_ARGS=--markdown
history: deps
	$(PYTHON) scripts/history.py $(HISTORY_ARGS)

# Mutation testing of the default kernel: would the suites and pyvma diff notice a
# one-line bug?  Each mutant a pytest-xdist item on JOBS local workers; resumable
# (results cached by content).  MUTATE_ARGS="--sample 40" bounds it.
mutate: deps
	$(PYTHON) -m pyvma mutate --kernel debian:7.x -n $(JOBS) $(MUTATE_ARGS)

bench: kernels
	$(PYTHON) bench/run.py

coverage: kernels
	$(PYTHON) scripts/coverage.py
