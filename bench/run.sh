#!/usr/bin/env bash
# Full side-by-side benchmark run (minutes): a `dist`-profile build of llmswitch (fat LTO,
# one codegen unit: what release wheels ship) and aiohttp in .bench-venv,
# LiteLLM (plus httpx and the openai SDK it pins) in a throwaway .bench-venv-litellm, one
# mock provider server process, and a raw Rust HTTP client baseline. Writes
# bench/results/*.json and BENCHMARKS.md. LiteLLM is never a dependency of llmswitch.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LITELLM_VERSION=${LITELLM_VERSION:-1.106.2}
OUT=bench/results
mkdir -p "$OUT"

echo "== dist-profile build of llmswitch (fat LTO; the slow build)"
[ -x .bench-venv/bin/python ] || "$PYTHON" -m venv .bench-venv
# aiohttp: the bare asyncio client acompletion is compared with (bench only).
.bench-venv/bin/pip install -q "maturin>=1.9.4,<2" aiohttp
rm -rf dist
.bench-venv/bin/maturin build --profile dist -q -o dist
.bench-venv/bin/pip install -q --force-reinstall --no-deps dist/llmswitch-*.whl
cargo build -q --profile dist --example raw_baseline

echo "== LiteLLM $LITELLM_VERSION in a throwaway venv"
[ -x .bench-venv-litellm/bin/python ] || "$PYTHON" -m venv .bench-venv-litellm
.bench-venv-litellm/bin/pip install -q "litellm[proxy]==$LITELLM_VERSION" httpx

echo "== mock provider server"
.bench-venv/bin/python -m llmswitch.testing --port 0 > "$OUT/server.url" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$OUT/server.url" ] && break; sleep 0.1; done
URL=$(head -1 "$OUT/server.url")
echo "server at $URL"

echo "== raw Rust client baseline"
target/dist/examples/raw_baseline "$URL/v1/chat/completions" 5000 > "$OUT/raw_sync.json"
target/dist/examples/raw_baseline "$URL/v1/chat/completions" 300 200 > "$OUT/raw_stream.json"

echo "== llmswitch"
.bench-venv/bin/python bench/library_bench.py --url "$URL" --subjects llmswitch,aiohttp \
    --raw target/dist/examples/raw_baseline --out "$OUT/llmswitch.json" > /dev/null
export LITELLM_LOCAL_MODEL_COST_MAP=True  # no network fetch of the price map
echo "== httpx, openai SDK, LiteLLM"
.bench-venv-litellm/bin/python bench/library_bench.py --url "$URL" --subjects httpx,openai,litellm \
    --out "$OUT/others.json" > /dev/null

.bench-venv/bin/python bench/report.py "$OUT" > BENCHMARKS.md
echo "wrote BENCHMARKS.md"
