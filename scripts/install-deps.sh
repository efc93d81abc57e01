#!/usr/bin/env bash
# Installs the Debian 12 packages diffuse needs, when any is missing:
#   install-deps.sh          what building and running `diffuse` needs (make run)
#   install-deps.sh test     that, plus what `make test` needs (pytest venv,
#                            valgrind, the headless browser of the web page test)
#   install-deps.sh fuzz     that, plus clang and libFuzzer (make fuzz)
#   install-deps.sh bench    that, plus OpenBLAS for the kernel benchmark
# Idempotent and quiet when everything is already there, so the Makefile can
# call it before every build.
set -euo pipefail

run_packages=(
  build-essential cmake pkg-config
  zlib1g-dev          # inflating the bundled CLIP vocabulary
  libjansson-dev      # JSON: safetensors headers, config.json
  libutf8proc-dev     # Unicode tables for the tokenizer (NFC, categories)
  libpng-dev libjpeg62-turbo-dev libwebp-dev  # image input/output (src/io/image*.c)
  libmicrohttpd-dev libsqlite3-dev  # diffuse serve: HTTP and the job store (src/server/)
  libsodium-dev       # diffuse serve: API key generation and hashing (src/server/keys.c)
)
test_packages=(
  python3 python3-venv  # the server tests' pytest venv (tests/server/setup.sh)
  valgrind curl        # server_valgrind: memcheck of `diffuse serve` (tests/server/valgrind.sh)
  chromium chromium-driver  # headless browser for the web page test (tests/server/test_web.py)
)
fuzz_packages=(clang libclang-rt-14-dev)  # libFuzzer targets (make fuzz)
bench_packages=(libopenblas-dev)          # reference BLAS of the kernel benchmark only

packages=("${run_packages[@]}")
case "${1:-run}" in
  run) ;;
  test) packages+=("${test_packages[@]}") ;;
  fuzz) packages+=("${fuzz_packages[@]}") ;;
  bench) packages+=("${bench_packages[@]}" python3 python3-venv) ;;
  *) echo "install-deps: unknown set '$1' (run, test, fuzz or bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "install-deps: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
