#!/usr/bin/env bash
# The gateway benchmark (minutes): a release build of llmswitch in .bench-venv, oha built
# into bench/.tools, LiteLLM's proxy in a throwaway .bench-venv-litellm, one mock provider.
# Writes bench/results/gateway.json and prints the BENCHMARKS.md section. LiteLLM is never a
# dependency of llmswitch; oha is only for this script (not in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LITELLM_VERSION=${LITELLM_VERSION:-1.106.2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
OUT=bench/results
mkdir -p "$OUT"

[ -x bench/.tools/bin/oha ] || cargo install oha --locked --root bench/.tools
# The load generator for the run with 1,000 virtual keys (oha sends one key only).
cargo build --release -q --manifest-path bench/loadgen/Cargo.toml --target-dir bench/.tools/loadgen-target
LOADGEN=bench/.tools/loadgen-target/release/llmswitch-loadgen

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "== release build of llmswitch" >&2
    [ -x .bench-venv/bin/python ] || "$PYTHON" -m venv .bench-venv
    .bench-venv/bin/pip install -q "maturin>=1.9.4,<2"
    rm -rf dist
    .bench-venv/bin/maturin build --release -q -o dist
    .bench-venv/bin/pip install -q --force-reinstall --no-deps dist/llmswitch-*.whl
fi

LITELLM_PY=${LITELLM_PY:-.bench-venv-litellm/bin/python}
if [ ! -x "$LITELLM_PY" ]; then
    "$PYTHON" -m venv .bench-venv-litellm
    .bench-venv-litellm/bin/pip install -q "litellm[proxy]==$LITELLM_VERSION"
fi

.bench-venv/bin/python bench/gateway_bench.py --oha bench/.tools/bin/oha \
    --litellm-python "$LITELLM_PY" --loadgen "$LOADGEN" --seconds "$SECONDS_PER_RUN" --out "$OUT/gateway.json" > /dev/null
.bench-venv/bin/python bench/gateway_bench.py --markdown "$OUT/gateway.json"
