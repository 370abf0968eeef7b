#!/usr/bin/env bash
# Build here, run on the lent GPU machine (the `device` tool):
#
#   scripts/gpu-bundle.sh build        # here: Hopper-only release build (preset `hopper`), then
#                                      # gpu-bundle.tar.xz = the GPU test and bench binaries +
#                                      # the shared libraries that machine lacks (HDF5, OpenMPI,
#                                      # oneDNN, OpenBLAS, FFTW, ITK/GDCM...), found with ldd;
#                                      # glibc's and CUDA's own libraries stay behind. The archive
#                                      # must stay under the device tool's 64 MiB carry limit.
#   scripts/gpu-bundle.sh run STAGE    # there (device tool: carry ["gpu-bundle.tar.xz"]), one
#                                      # device call per stage, each under the 600 s limit:
#       tests      GPU test entries (+ ddnet info, nvidia-smi)
#       memcheck   the GPU entries under compute-sanitizer memcheck
#       racecheck  the engine's own kernels under racecheck (cuDNN's excluded: slow and not ours)
#       synccheck  the engine's own kernels under synccheck (barriers and warp syncs)
#       bench      `ddnet bench --device cuda`: every case beside PyTorch, paired ($OUT/ddnet-bench)
#       memory     3D-DDnet training steps on whole 512x512 slabs of 16, 128 and 256 slices (lean;
#                  the last one's full-resolution convolutions split along depth): each step's
#                  memory record (tensors held and peak, reserved, workspaces) and time, from
#                  train.jsonl, beside the estimate `ddnet train` prints (docs/memory.md)
#       baselines  the PyTorch baselines on the GPU (conv, MS-SSIM, 3D-DDnet step at 16x64x64
#                  and 16x512x512 with peak memory), TF32 off and cudnn.benchmark on
#       all        every stage above in one device call, each under its own time limit (the
#                  sum stays under 600 s), and $OUT/report.md: a table of the stages (status,
#                  seconds, the tail of each log) to commit as bench/results/<date>-gpu-<gpu>.md
#     everything is written under $OUT.
#
# On that machine cuDNN, cuBLAS and NCCL come from PyTorch's wheels (site-packages/nvidia/*/lib)
# and the CUDA runtime from the toolkit; only our binaries run with LD_LIBRARY_PATH pointing at
# those and at the bundle (PyTorch keeps its own environment).
# STATUS: written without a GPU; the `run` half has not yet been executed on one (the CUDA paths
# themselves run on every commit on the emulator of tests/sim).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=gpu-bundle
archive=gpu-bundle.tar.xz

build() {
  cmake --preset hopper >/dev/null
  cmake --build build/hopper -j "$(nproc)"
  rm -rf "$bundle" "$archive" && mkdir -p "$bundle/bin" "$bundle/lib"
  cp build/hopper/tests/ddnet_tests_gpu build/hopper/bench/bench_* build/hopper/tools/ddnet \
     "$bundle/bin/"
  # Libraries the device machine lacks: everything ldd resolves except glibc's and CUDA's. Names
  # are anchored at ".so" so that libmpi is not taken for libm, nor libcurl for libc.
  skip='^((libc|libm|libdl|librt|libpthread|libresolv|libutil|libnsl|libanl|libgcc_s|libstdc\+\+|libcuda|libcudart|libcublas|libcublasLt|libnccl)\.so|libcudnn|libnvrtc|libnvJitLink|ld-linux|linux-vdso)'
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
  tar -cf - "$bundle" | xz -T "$(nproc)" -6 >"$archive"
  rm -rf "$bundle"
  local bytes
  bytes=$(stat -c %s "$archive")
  echo "gpu-bundle: $archive, $((bytes / 1048576)) MiB"
  if ((bytes > 60 * 1048576)); then
    echo "gpu-bundle: over 60 MiB; the device tool carries at most 64 MiB with the tree" >&2
    exit 1
  fi
  # Both /gpu-bundle.tar.xz and /gpu-bundle/ are in .gitignore.
}

# Runs one of our binaries with the bundle's and the wheels' libraries.
ours() {
  LD_LIBRARY_PATH="$PWD/$bundle/lib:$wheels:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}" \
    OMPI_MCA_mca_base_component_path="$PWD/$bundle/lib/openmpi3" "$@"
}

run() {
  : "${OUT:?run this on the device machine, where \$OUT is set}"
  local stage="${1:-}"
  [[ -d "$bundle" ]] || python3 -m tarfile -e "$archive" .
  wheels=$(python3 -c 'import nvidia, os; print(":".join(sorted(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in os.listdir(p) if os.path.isdir(os.path.join(p, d, "lib")))))')
  export DDNET_FIXTURE_DIR="$PWD/tests/fixtures"  # the working tree travels; the build path does not
  # One GPU, one process: NCCL's bootstrap over loopback (the machine has no usable network).
  export NCCL_SOCKET_IFNAME=lo NCCL_DEBUG=WARN
  local log="$OUT/gpu-$stage.log"
  set +e
  {
    echo "stage $stage, commit $(cat "$bundle/COMMIT"), date $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  } | tee "$log"
  case "$stage" in
    tests)
      ours "$bundle/bin/ddnet" info 2>&1 | tee -a "$log"
      ours "$bundle/bin/ddnet_tests_gpu" --reporter console --durations yes 2>&1 | tee -a "$log" | tail -n 40
      ;;
    memcheck)
      ours compute-sanitizer --tool memcheck --print-limit 50 --error-exitcode 9 \
        "$bundle/bin/ddnet_tests_gpu" 2>&1 | tee -a "$log" | tail -n 20
      ;;
    racecheck)
      ours compute-sanitizer --tool racecheck --print-limit 50 --error-exitcode 9 \
        "$bundle/bin/ddnet_tests_gpu" "~[conv]~[nccl]~[ddnet]" 2>&1 | tee -a "$log" | tail -n 20
      ;;
    synccheck)
      ours compute-sanitizer --tool synccheck --print-limit 50 --error-exitcode 9 \
        "$bundle/bin/ddnet_tests_gpu" "~[conv]~[nccl]~[ddnet]" 2>&1 | tee -a "$log" | tail -n 20
      ;;
    bench)
      # `ddnet bench` on the GPU: every case beside PyTorch (its own environment: no bundle
      # libraries), paired, against the GPU's datasheet limits; bench.md, bench.json, the PNGs.
      DDNET_BENCH_COMMIT="$(cat "$bundle/COMMIT")" ours "$bundle/bin/ddnet" bench --device cuda \
        --bench-dir "$bundle/bin" --torch-server bench/torch/bench_server.py \
        --python "env -u LD_LIBRARY_PATH -u OMPI_MCA_mca_base_component_path python3" \
        --repeat 5 --min-time 0.2 --out "$OUT/ddnet-bench" 2>&1 | tee -a "$log" | tail -n 40
      ;;
    memory)
      for slices in 16 128 256; do
        rm -rf "$OUT/mem-$slices"
        ours "$bundle/bin/ddnet" train --device cuda --model 3d --loader synthetic --slices "$slices" \
          --size 512 --batch 1 --train-samples 2 --val-samples 1 --epochs 1 --progress false \
          --out "$OUT/mem-$slices" 2>&1 | grep -E "memory|estimate|error|ddnet:" | tee -a "$log"
        grep '"type":"step"' "$OUT/mem-$slices/train.jsonl" 2>/dev/null | tail -n 1 | tee -a "$log"
      done
      ;;
    baselines)
      {
        python3 bench/torch/conv_baseline.py --device cuda --repeat 10
        python3 bench/torch/msssim_baseline.py --device cuda --repeat 10
        python3 bench/torch/ddnet_step_baseline.py --device cuda --repeat 10
        python3 bench/torch/ddnet_step_baseline.py --device cuda --size 512 --repeat 5
      } 2>&1 | tee -a "$OUT/baselines.txt"
      ;;
    *)
      echo "usage: scripts/gpu-bundle.sh run tests|memcheck|racecheck|synccheck|bench|memory|baselines|all" >&2
      exit 2
      ;;
  esac
  return "${PIPESTATUS[0]}"
}

# Every stage in one device call, each under a time limit, and a report of them.
run_all() {
  : "${OUT:?run this on the device machine, where \$OUT is set}"
  local report="$OUT/report.md" stage limit t0 rc secs
  {
    echo "# GPU run of $(cat "$bundle/COMMIT" 2>/dev/null || git rev-parse HEAD)"
    echo
    echo "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1), $(date -u +%FT%TZ)"
    echo
    echo "| stage | status | seconds | limit |"
    echo "|---|---|---|---|"
  } >"$report"
  # Limits add up to 570 s: the device call's 600 s less room to return the files.
  for entry in tests:110 memcheck:100 racecheck:80 synccheck:50 bench:150 memory:50 baselines:30; do
    stage=${entry%%:*}
    limit=${entry##*:}
    t0=$(date +%s)
    timeout --kill-after 5 "$limit" bash "$0" run "$stage" >/dev/null 2>&1
    rc=$?
    secs=$(($(date +%s) - t0))
    local status=passed
    ((rc == 124 || rc == 137)) && status="stopped at the limit"
    ((rc != 0 && rc != 124 && rc != 137)) && status="FAILED (exit $rc)"
    echo "| $stage | $status | $secs | $limit |" >>"$report"
  done
  for f in "$OUT"/gpu-*.log; do
    [[ -e "$f" ]] || continue
    printf '\n## %s (last 15 lines)\n\n```\n%s\n```\n' "$(basename "$f")" "$(tail -n 15 "$f")" >>"$report"
  done
  cat "$report"
}

case "${1:-}" in
  build) build ;;
  run) if [[ "${2:-}" == all ]]; then run_all; else run "${2:-}"; fi ;;
  *) echo "usage: scripts/gpu-bundle.sh build | run tests|memcheck|racecheck|synccheck|bench|memory|baselines|all" >&2; exit 2 ;;
esac
