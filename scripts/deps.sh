#!/usr/bin/env bash
# Installs the Debian packages basalt's build and setup need, only those missing.
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -euo pipefail

# cmake, clang, libclang-dev: llama.cpp build (llama-cpp-2's -sys crate, bindgen);
# libgomp1: OpenMP at run time; python3-venv, python3-pip: the test venv and `basalt models fetch`.
PACKAGES=(cmake clang libclang-dev libgomp1)
# Node.js 20+ and npm: the end-to-end suite runs the AWS SDK for JavaScript v3 (tests/js).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi
# A python3 that already has venv and pip (pyenv, a distro build) needs no Debian python packages.
if ! python3 -c 'import venv, ensurepip, pip' >/dev/null 2>&1; then
    PACKAGES+=(python3-venv python3-pip)
fi

if ! command -v dpkg >/dev/null 2>&1; then
    echo "deps: this is not a Debian-based system (no dpkg); install by hand: ${PACKAGES[*]}" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "deps: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "deps: missing Debian packages: ${missing[*]}" >&2
        echo "deps: run:  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
else
    echo "deps: Debian packages present (${PACKAGES[*]})"
fi

# Tools that do not come from apt here.
if ! command -v cargo >/dev/null 2>&1; then
    echo "deps: cargo not found: install a Rust toolchain (rustup, https://rustup.rs), then re-run" >&2
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "deps: python3 not found: apt-get install -y python3" >&2
    exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
    echo "deps: Node.js $(node --version 2>/dev/null || echo '(none)') is too old for the AWS SDK for JavaScript v3 tests: install Node.js 20 or later" >&2
    exit 1
fi
