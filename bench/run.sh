#!/usr/bin/env bash
# basalt vs llama.cpp (llama-cpp-python) on the same GGUF, prompt and thread count.
#
#   bash bench/run.sh [extra args for bench/runtime.py, e.g. --rounds 9 --max-tokens 128]
#
# Creates bench/.venv on first use (builds llama-cpp-python from source with GGML_NATIVE=ON:
# several minutes on a small machine), starts `basalt serve` on a free port with a throwaway
# data dir, runs bench/runtime.py against it, stops basalt. Raw results: bench/results/.
#
# Environment: BASALT_BIN (default $CARGO_TARGET_DIR/release/basalt), BASALT_MODELS_DIR
# (default /tmp/basalt-models), BENCH_THREADS (default: every core, basalt's default; any other
# value is written into a copy of the default catalog as the served model's `threads`, and
# llama-cpp-python gets the same n_threads = n_threads_batch).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/basalt/target}"
basalt_bin="${BASALT_BIN:-$target_dir/release/basalt}"
models_dir="${BASALT_MODELS_DIR:-/tmp/basalt-models}"
model_file="$models_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
threads="${BENCH_THREADS:-$(nproc)}"
python="${PYTHON:-python3}"
venv="$here/.venv"

if [[ ! -x "$basalt_bin" ]]; then
    echo "building basalt (release, -C target-cpu=native)" >&2
    (cd "$root" && CARGO_TARGET_DIR="$target_dir" RUSTFLAGS="${RUSTFLAGS:--C target-cpu=native}" \
        cargo build --release -p basalt)
fi
if [[ ! -f "$model_file" ]]; then
    "$basalt_bin" models fetch --models-dir "$models_dir"
fi

# llama-cpp-python from source, native CPU kernels like basalt's llama.cpp build.
if [[ ! -f "$venv/.installed" || "$here/requirements.txt" -nt "$venv/.installed" ]]; then
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    CMAKE_ARGS="-DGGML_NATIVE=ON" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "$venv/bin/pip" install --disable-pip-version-check --no-binary llama-cpp-python \
        -r "$here/requirements.txt"
    touch "$venv/.installed"
fi

port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
data_dir="$(mktemp -d)"
mkdir -p "$here/results"
stamp="$(date +%Y%m%d-%H%M%S)"
log="$here/results/basalt-$stamp.log"

serve_args=(serve --listen "127.0.0.1:$port" --data-dir "$data_dir" --models-dir "$models_dir")
if [[ "$threads" != "$(nproc)" ]]; then
    sed "s/^\[served.smollm2\]\$/&\nthreads = $threads/" \
        "$root/crates/basalt-models/catalog/default.toml" >"$data_dir/catalog.toml"
    grep -q "^threads = $threads\$" "$data_dir/catalog.toml" || { echo "could not set threads in the catalog" >&2; exit 1; }
    printf 'catalog = "%s"\n' "$data_dir/catalog.toml" >"$data_dir/basalt.toml"
    serve_args+=(--config "$data_dir/basalt.toml")
fi
"$basalt_bin" "${serve_args[@]}" >"$log" 2>&1 &
basalt_pid=$!
cleanup() {
    kill "$basalt_pid" 2>/dev/null || true
    wait "$basalt_pid" 2>/dev/null || true
    rm -rf "$data_dir"
}
trap cleanup EXIT

# basalt loads the models before it listens, so any HTTP answer means ready.
for _ in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then break; fi
    kill -0 "$basalt_pid" 2>/dev/null || { echo "basalt exited; see $log" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
done
sleep 2  # let startup settle before the idle RSS reading

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "basalt $(git -C "$root" rev-parse --short HEAD) pid $basalt_pid on :$port, threads=$threads" >&2
"$venv/bin/python" "$here/runtime.py" \
    --endpoint "http://127.0.0.1:$port" \
    --model-path "$model_file" \
    --threads "$threads" \
    --basalt-pid "$basalt_pid" \
    --out "$here/results/runtime-$stamp.json" \
    "$@"
