# One entry point for development and CI. `make test` is the whole suite: the command
# the README gives and .ci/run calls. It creates .venv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)

.PHONY: test dev lint rust-test py-test frameworks-test stubtest bench bench-gateway bench-smoke demo clean

test: lint rust-test py-test frameworks-test bench-smoke

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin>=1.9.4,<2" "pytest>=8" "pytest-timeout>=2.3" "openai>=1.40" "ruff>=0.6" "mypy>=1.11" \
		"anthropic>=0.40,<1" "langchain-openai>=0.2,<2" \
		"cohere>=5.15,<6" "ollama>=0.5,<1" "boto3>=1.35,<2" "tomli>=2; python_version < '3.11'" \
		"langchain-core>=1.2,<2" "langgraph>=1.0,<2" "hypothesis>=6.100,<7" \
		"litellm-proxy-extras==0.4.108"
	touch $@

# Build the extension (debug profile) into .venv, editable.
dev: $(VENV)/.installed
	$(VENV)/bin/maturin develop -q

lint: dev
	cargo fmt --check
	cargo clippy --all-targets --features python -- -D warnings
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy python/llmswitch
	MYPYPATH=tests/python $(PY) -m mypy bench
	$(PY) -m mypy.stubtest llmswitch._llmswitch llmswitch._types --allowlist stubtest-allowlist.txt

rust-test:
	cargo test

py-test: dev
	$(PY) -m pytest

# Agent frameworks (DSPy, LangChain, instructor, smolagents, Agents SDK, CrewAI) run with
# LiteLLM 1.106.2 and then with llmswitch.install_as_litellm(), in their own environments
# (tests/frameworks/requirements*.txt, pinned), using this checkout's llmswitch build.
FW_VENV    ?= .venv-frameworks
CREW_VENV  ?= .venv-frameworks-crewai

$(FW_VENV)/.installed: tests/frameworks/requirements.txt tests/frameworks/constraints.txt
	$(PYTHON) -m venv $(FW_VENV)
	$(FW_VENV)/bin/python -m pip install -q --upgrade pip
	$(FW_VENV)/bin/python -m pip install -q -r tests/frameworks/requirements.txt
	touch $@

$(CREW_VENV)/.installed: tests/frameworks/requirements-crewai.txt tests/frameworks/constraints-crewai.txt
	$(PYTHON) -m venv $(CREW_VENV)
	$(CREW_VENV)/bin/python -m pip install -q --upgrade pip
	$(CREW_VENV)/bin/python -m pip install -q -r tests/frameworks/requirements-crewai.txt
	touch $@

frameworks-test: dev $(FW_VENV)/.installed $(CREW_VENV)/.installed
	PYTHONPATH=python FRAMEWORKS=dspy,langchain_litellm,instructor,smolagents,openai_agents \
		$(FW_VENV)/bin/python -m pytest tests/frameworks -p no:cacheprovider
	PYTHONPATH=python FRAMEWORKS=crewai $(CREW_VENV)/bin/python -m pytest tests/frameworks -p no:cacheprovider

bench: $(VENV)/.installed
	bench/run.sh

# The gateway against LiteLLM's proxy under load (needs oha: built into bench/.tools).
bench-gateway:
	bench/gateway.sh

bench-smoke: dev
	$(PY) bench/library_bench.py --smoke --subjects llmswitch > /dev/null
	$(PY) bench/gateway_bench.py --smoke > /dev/null
	$(PY) bench/scaleout_bench.py --smoke > /dev/null

demo: dev
	$(PY) -m llmswitch demo

clean:
	rm -rf $(VENV) $(FW_VENV) $(CREW_VENV) target
