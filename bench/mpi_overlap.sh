#!/usr/bin/env bash
# Runs bench/mpi_overlap with 2 CPU ranks (one thread each) on the configurations recorded in
# bench/results/*-cpu-mpi-overlap.md.   Usage: bench/mpi_overlap.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build/release}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
run() { mpirun -np 2 -x OMP_NUM_THREADS=1 "$build/bench/mpi_overlap" "$@" 2>&1 | grep -v ORTE_ERROR_LOG; echo; }
run --model 2d --size 64 --steps 40                                   # default buckets: 25 MiB, first 1 MiB
run --model 2d --size 32 --steps 40 --bucket-mib 0.5 --first-bucket-kib 256
run --model 3d --size 32 --slices 16 --steps 20 --bucket-mib 2 --first-bucket-kib 512
