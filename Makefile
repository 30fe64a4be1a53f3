# larfarm: every target sets up what it needs; a fresh clone needs only
# `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

CONSTRAINTS := constraints.txt

.PHONY: all venv test test-fast lint typecheck upgrade-deps demo bench lite-runtime proto clean

all: test

# The virtualenv is rebuilt whenever the project's metadata or the pinned versions change.
# Installing with -c gives a fresh clone the versions CI tested (constraints.txt).
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[test,lite,dev]'
	touch $@

venv: $(STAMP)

# MegEngine Lite runtime (official megengine 1.13.0 wheel, verified by sha256,
# cached outside the tree); a no-op once in place.
lite-runtime: $(STAMP)
	$(PY) -m agent.lar_lite.runtime ensure

# Regenerate the committed gRPC stubs from proto/ (a test fails when stale), with
# grpcio-tools 1.62: its stubs carry no runtime version gate, so boards with an
# older protobuf/grpcio (Python 3.8) load them; newer runtimes load them too.
PROTO_TOOLS := $(VENV)/proto-tools
proto: $(STAMP)
	[ -x $(PROTO_TOOLS)/bin/python ] || { $(PYTHON) -m venv $(PROTO_TOOLS) && $(PROTO_TOOLS)/bin/pip install -q grpcio-tools==1.62.3; }
	$(PROTO_TOOLS)/bin/python -m grpc_tools.protoc -Iproto --python_out=proto --grpc_python_out=proto --pyi_out=proto $$(find proto -name '*.proto')

test: $(STAMP) lite-runtime
	$(PY) -m pytest -q

# The quick loop: no root (sshd, network namespaces), no browser, no MegEngine runtime, nothing slow.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not root and not browser and not lite and not slow"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

# Re-resolve every dependency (all extras) at its newest allowed version, in a scratch virtualenv,
# and pin the result in constraints.txt for this Python's minor version (CI's); another Python
# resolves within pyproject.toml's bounds. Then run `make lint typecheck test`; commit both files.
RESOLVE := $(VENV)-resolve
upgrade-deps:
	rm -rf $(RESOLVE) && $(PYTHON) -m venv $(RESOLVE)
	$(RESOLVE)/bin/python -m pip install -q --upgrade pip
	$(RESOLVE)/bin/python -m pip install -q '.[test,lite,dev]'
	pyv=$$($(RESOLVE)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	{ echo "# Versions CI tested: make test/demo install with pip -c. Written by make upgrade-deps"; \
	  echo "# with Python $$pyv on $$(date -u +%Y-%m-%d); edit pyproject.toml's bounds, not this file."; \
	  $(RESOLVE)/bin/python -m pip freeze --all --exclude larfarm --exclude pip \
	    | sed "s/\$$/ ; python_version == \"$$pyv\"/"; } > $(CONSTRAINTS)
	rm -rf $(RESOLVE) build  # pip built the wheel in the tree

demo: $(STAMP) lite-runtime
	$(PY) -m controller.demo

bench: $(STAMP) lite-runtime
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(RESOLVE) .pytest_cache .hypothesis build *.egg-info
