#!/usr/bin/env bash
# Build here, run on the lent GPU machine (the `device` tool), in two steps:
#
#   scripts/gpu-bundle.sh build   # here: Hopper-only release build (preset `hopper`), then
#                                 # gpu-bundle/ = the test and bench binaries + the shared
#                                 # libraries that machine lacks (HDF5, OpenMPI, CLI11 deps...),
#                                 # found with ldd; glibc and CUDA's own libraries stay behind.
#   scripts/gpu-bundle.sh run     # there (device tool: carry ["gpu-bundle"]): GPU test entries,
#                                 # the same under compute-sanitizer memcheck and racecheck,
#                                 # the benchmarks; everything written under $OUT.
#
# On that machine cuDNN, cuBLAS and NCCL come from PyTorch's wheels (site-packages/nvidia/*/lib)
# and the CUDA runtime from the toolkit; LD_LIBRARY_PATH points at those and at the bundle.
# STATUS: written without a GPU (2026-11-24); the `run` half has not yet been executed on one.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=gpu-bundle

build() {
  cmake --preset hopper >/dev/null
  cmake --build build/hopper -j "$(nproc)"
  rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/lib"
  cp build/hopper/tests/ddnet_tests build/hopper/tests/ddnet_tests_gpu build/hopper/bench/bench_* \
     build/hopper/tools/ddnet "$bundle/bin/"
  # Libraries the device machine lacks: everything ldd resolves except glibc's and CUDA's.
  skip='^(libc|libm|libdl|librt|libpthread|ld-linux|libgcc_s|libstdc\+\+|libcuda|libcudart|libcublas|libcublasLt|libcudnn|libnccl|libnvrtc|libnvJitLink|linux-vdso)'
  for b in "$bundle"/bin/*; do
    ldd "$b" | awk '/=> \//{print $1" "$3}' | while read -r name path; do
      [[ "$name" =~ $skip ]] || cp -Ln "$path" "$bundle/lib/" 2>/dev/null || true
    done
  done
  # OpenMPI loads its components at run time; bundle them too.
  if [[ -d /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3 ]]; then
    cp -r /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3 "$bundle/lib/"
  fi
  git rev-parse HEAD >"$bundle/COMMIT"
  du -sh "$bundle"
  grep -qx "/$bundle/" .git/info/exclude 2>/dev/null || echo "/$bundle/" >>.git/info/exclude
}

run() {
  : "${OUT:?run this on the device machine, where \$OUT is set}"
  local wheels
  wheels=$(python3 -c 'import nvidia, os; print(":".join(sorted(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in os.listdir(p) if os.path.isdir(os.path.join(p, d, "lib")))))')
  export LD_LIBRARY_PATH="$PWD/$bundle/lib:$wheels:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  export DDNET_FIXTURE_DIR="$PWD/tests/fixtures"  # the working tree travels; the build path does not
  export OMPI_MCA_mca_base_component_path="$PWD/$bundle/lib/openmpi3"
  local log="$OUT/gpu-run.log"
  {
    echo "commit $(cat "$bundle/COMMIT"), date $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$bundle/bin/ddnet" info
  } | tee "$log"
  set +e
  "$bundle/bin/ddnet_tests_gpu" --reporter console 2>&1 | tee -a "$log" | tail -n 3
  compute-sanitizer --tool memcheck --error-exitcode 9 "$bundle/bin/ddnet_tests_gpu" 2>&1 | tee "$OUT/memcheck.log" | tail -n 3
  compute-sanitizer --tool racecheck --error-exitcode 9 "$bundle/bin/ddnet_tests_gpu" 2>&1 | tee "$OUT/racecheck.log" | tail -n 3
  "$bundle/bin/ddnet_tests" 2>&1 | tail -n 2 | tee -a "$log"
  for b in "$bundle"/bin/bench_*; do
    "$b" --benchmark_filter=cuda 2>&1 | tee -a "$OUT/bench.txt"
  done
  python3 bench/torch/conv_baseline.py --device cuda --repeat 10 2>&1 | tee -a "$OUT/bench.txt"
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: scripts/gpu-bundle.sh build|run" >&2; exit 2 ;;
esac
