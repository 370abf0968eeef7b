#!/usr/bin/env bash
# Mutation evidence for the emulated CUDA suite (issue 17): each mutation breaks the engine the
# way a real CUDA bug would, the build is rebuilt, and the emulated entries that cover it must
# FAIL. The source is restored afterwards (also on interrupt). Takes ~2 minutes per mutation on
# 2 cores after a full build of build/sanitize.
#   tests/sim/mutations.sh [build dir [name...]]   (default build/sanitize, the ASan + UBSan
#   emulator, and every mutation: syncthreads prefetch-event-wait prefetch-record-stream
#   reducer-event-wait cudnn-descriptor-stride bounds-check)
set -uo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build/sanitize}"
shift || true
only=" $* "
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1

mutate() {  # name, file, python expression old -> new, ctest regex
  local name="$1" file="$2" old="$3" new="$4" tests="$5"
  [[ "$only" == "  " || "$only" == *" $name "* ]] || return 0
  cp "$file" "$file.orig"
  trap 'mv -f "$file.orig" "$file"; touch "$file"' EXIT INT TERM
  python3 - "$file" "$old" "$new" <<'PY' || { echo "mutation '$name': pattern not found"; exit 2; }
import sys
p, old, new = sys.argv[1:]
s = open(p).read()
if old not in s:
    sys.exit(1)
open(p, "w").write(s.replace(old, new, 1))
PY
  if ! cmake --build "$build" -j "$(nproc)" --target ddnet_tests_gpu ddnet ddnet_tests_mpi >"/tmp/mutation-$name.log" 2>&1; then
    echo "mutation '$name': does not build (see /tmp/mutation-$name.log)"
    mv -f "$file.orig" "$file"
    touch "$file"
    trap - EXIT INT TERM
    status=2
    return 0
  fi
  if ctest --test-dir "$build" -R "$tests" -FA sim_coverage -j "$(nproc)" --output-on-failure \
    >"/tmp/mutation-$name.log" 2>&1; then
    echo "mutation '$name': NOT caught (the emulated suite passed): see /tmp/mutation-$name.log"
    status=1
  else
    echo "mutation '$name': caught by $(grep -c 'Failed\|Exception' "/tmp/mutation-$name.log") failing entries:"
    grep -E '\*\*\*Failed|\*\*\*Exception|ddnet-sim:|ERROR: AddressSanitizer|WARNING: ThreadSanitizer|differs|with expansion' \
      "/tmp/mutation-$name.log" | sort | uniq | head -n 8 | sed 's/^/    /'
  fi
  mv -f "$file.orig" "$file"
  touch "$file"  # newer than the mutated build, so the next build recompiles it
  trap - EXIT INT TERM
}

status=0
mutate syncthreads kernels/batchnorm.cu \
  "  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();" \
  "  if (lane == 0) warp_sums[warp] = v;" \
  'emulated:gpu batch_norm'
mutate prefetch-event-wait engine/prefetch.cpp \
  "    slots_[s.slot].copied->wait(compute);" \
  "" \
  'emulated:gpu engine: the batch prefetcher|emulated: ddnet --device cuda'
mutate prefetch-record-stream engine/prefetch.cpp \
  "    s.batch.input.storage()->record_stream(compute);
    s.batch.target.storage()->record_stream(compute);" \
  "" \
  'emulated:gpu engine: the batch prefetcher|emulated: ddnet --device cuda'
mutate reducer-event-wait dist/reducer.cpp \
  "    ready_[b]->wait(nccl_->stream());" \
  "" \
  'emulated:gpu nccl|emulated: the NCCL reducer'
mutate cudnn-descriptor-stride kernels/conv_cudnn.cpp \
  "plane,
                                       sp[1] * sp[2], sp[2], 1};" \
  "plane,
                                       sp[2], sp[2], 1};" \
  'emulated:gpu conv'
mutate bounds-check kernels/upsample.cu \
  "  DDNET_GRID_STRIDE(i, n) {" \
  "  (void)n;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i >= 0; i = -1) {" \
  'emulated:gpu kernels: upsample'
# Rebuild the unmutated tree so the build directory matches the sources again.
cmake --build "$build" -j "$(nproc)" --target ddnet_tests_gpu ddnet ddnet_tests_mpi >/dev/null
exit $status
