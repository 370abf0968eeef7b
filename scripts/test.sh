#!/usr/bin/env bash
# The README's test command: installs what the build needs, builds everything (CUDA code
# included when the toolkit is present, warnings as errors), runs the CPU suite under address +
# undefined sanitizers, then the whole suite. GPU entries report SKIPPED without a device.
# Safe to run twice (incremental). Options: --no-sanitize to skip the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=1
for arg in "$@"; do
  case "$arg" in
    --no-sanitize) sanitize=0 ;;
    *) echo "scripts/test.sh: unknown option '$arg' (known: --no-sanitize)" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh
jobs=$(nproc)

if ((sanitize)); then
  echo "== CPU suite under address + undefined sanitizers (build/sanitize)"
  cmake --preset sanitize >/dev/null
  cmake --build build/sanitize -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/sanitize -L cpu -j "$jobs" --output-on-failure
fi

echo "== Full suite (build/ci: release, warnings as errors)"
cmake --preset ci
cmake --build build/ci -j "$jobs"
ctest --test-dir build/ci -j "$jobs" --output-on-failure
