#!/usr/bin/env bash
# Knowledge-base speed at ≥100k chunks, basalt beside Chroma in one run (see BENCHMARKS.md).
#
#   bash bench/kb_speed/run.sh
#
# 1. A venv under $KB_SPEED_CACHE (default ~/.cache/basalt/kb_speed) with requirements.txt:
#    the packages whose docstrings make the corpus (installed without dependencies, never
#    imported), Chroma, and sentence-transformers for the ingestion reference.
# 2. prepare.py: 102,665 chunks of 40 words (20% overlap) from 3,648 modules, 300 queries.
# 3. index_speed (crates/basalt-kb/examples): embeds the chunks with basalt's engine once
#    (cached), builds the embedded index from those vectors, times BM25 / SEMANTIC / HYBRID
#    retrieval; chroma_bench.py loads the very same vectors into Chroma and times its queries.
# 4. ingest_bench.py: 300 whole modules through `basalt serve` (S3 upload, StartIngestionJob,
#    FIXED_SIZE 300 tokens) against sentence-transformers + Chroma on the same windows.
#
# Environment: BASALT_MODELS_DIR (default /tmp/basalt-models), KB_SPEED_CACHE, PYTHON,
# CARGO_TARGET_DIR, RUSTFLAGS. Results: bench/kb_speed/results/ (git-ignored).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${KB_SPEED_CACHE:-$HOME/.cache/basalt/kb_speed}"
python="${PYTHON:-python3}"
venv="$cache/venv"
results="$here/results"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt/target}"
export RUSTFLAGS="${RUSTFLAGS--C target-cpu=native}"
models_dir="${BASALT_MODELS_DIR:-/tmp/basalt-models}"

if [[ ! -f "$venv/.installed" || "$here/requirements.txt" -nt "$venv/.installed" ]]; then
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    # The corpus packages without their dependencies; then the tools with theirs.
    grep -E '^(sympy|networkx|scipy|pandas|numpy|matplotlib|sqlalchemy|django|astropy|sphinx|docutils)==' \
        "$here/requirements.txt" > "$cache/corpus-packages.txt"
    "$venv/bin/pip" install --disable-pip-version-check --quiet --no-deps -r "$cache/corpus-packages.txt"
    grep -vE '^(sympy|networkx|scipy|pandas|numpy|matplotlib|sqlalchemy|django|astropy|sphinx|docutils)==' \
        "$here/requirements.txt" > "$cache/tools.txt"
    "$venv/bin/pip" install --disable-pip-version-check --quiet -r "$cache/tools.txt"
    touch "$venv/.installed"
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$venv/bin/python" "$here/prepare.py" --site "$site" --out "$cache/data"

(cd "$root" && cargo build --release -p basalt-kb --example index_speed && cargo build --release -p basalt)
mkdir -p "$results"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$CARGO_TARGET_DIR/release/examples/index_speed" --chunks "$cache/data/chunks.jsonl" \
    --queries "$cache/data/queries.jsonl" --work "$cache/work" \
    --model-dir "$models_dir/all-MiniLM-L6-v2" | tee "$results/basalt-index.json"
"$venv/bin/python" "$here/chroma_bench.py" --chunks "$cache/data/chunks.jsonl" \
    --queries "$cache/data/queries.jsonl" --work "$cache/work" | tee "$results/chroma-index.json"
"$venv/bin/python" "$here/ingest_bench.py" --documents "$cache/data/documents.jsonl" --count 300 \
    --basalt "$CARGO_TARGET_DIR/release/basalt" --models "$models_dir" --work "$cache/work" \
    | tee "$results/ingest.json"
