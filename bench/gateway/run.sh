#!/usr/bin/env bash
# Gateway overhead: basalt vs LiteLLM's proxy in front of one fixed-latency fake upstream.
# Builds/installs what is missing, then runs bench.py (all its options pass through):
#
#   bash bench/gateway/run.sh                      # 100, 1000, 5000 RPS; 10 s per cell
#   bash bench/gateway/run.sh --pin --perf         # gateway on CPU 1, oha+upstream on CPU 0; perf profile of basalt
#   bash bench/gateway/run.sh --targets upstream,basalt-oa,basalt-cv   # without LiteLLM
#
# Results: bench/gateway/results/<UTC time>/ (result.json, table.md, oha JSON per cell, logs).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt/target}"
export RUSTFLAGS="${RUSTFLAGS:--C target-cpu=native}"

OHA_VERSION=1.16.0
LITELLM_VERSION=1.100.5   # 1.104+ require certifi>=2026.10.19, which the index here lacks

BASALT="${BASALT_BIN:-$CARGO_TARGET_DIR/release/basalt}"
if [[ ! -x "$BASALT" ]]; then
    (cd "$ROOT" && cargo build --release -p basalt)
fi

UPSTREAM_TARGET="$HOME/.cache/basalt/fake-upstream-target"
UPSTREAM="$UPSTREAM_TARGET/release/fake-upstream"
if [[ ! -x "$UPSTREAM" || "$HERE/fake-upstream/src/main.rs" -nt "$UPSTREAM" ]]; then
    (cd "$HERE/fake-upstream" && CARGO_TARGET_DIR="$UPSTREAM_TARGET" cargo build --release --locked)
fi

OHA_ROOT="$HOME/.cache/basalt/oha"
OHA="$OHA_ROOT/bin/oha"
if [[ ! -x "$OHA" ]] || ! "$OHA" --version | grep -q "$OHA_VERSION"; then
    cargo install oha --version "$OHA_VERSION" --locked --root "$OHA_ROOT"
fi

VENV="$HERE/.venv"
if [[ ! -x "$VENV/bin/litellm" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 "$HERE/bench.py" --basalt "$BASALT" --upstream-bin "$UPSTREAM" --oha "$OHA" \
    --litellm "$VENV/bin/litellm" "$@"
