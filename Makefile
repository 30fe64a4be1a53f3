# larfarm: every target sets up what it needs; a fresh clone needs only
# `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: all venv test demo bench lite-runtime proto clean

all: test

# The virtualenv is rebuilt whenever the project's metadata changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,lite]'
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

demo: $(STAMP) lite-runtime
	$(PY) -m controller.demo

bench: $(STAMP) lite-runtime
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
