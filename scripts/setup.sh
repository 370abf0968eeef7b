#!/usr/bin/env bash
# Installs the Debian packages the build and tests need. Safe to run twice: apt-get skips what is
# already installed, and the package index is refreshed at most once a day.
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --fixtures also the Python side (PyTorch 1.13, h5py, scikit-image) that regenerates fixtures
#   scripts/setup.sh --main     also the bundled head CT (invesalius-examples) of scripts/main.sh
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config git clang-format
      catch2 libbenchmark-dev libhdf5-dev hdf5-tools libopenmpi-dev openmpi-bin
      libcli11-dev nlohmann-json3-dev libfmt-dev libopenblas-dev libdnnl-dev libfftw3-dev
      libinsighttoolkit5-dev libpng-dev zlib1g-dev
      pybind11-dev python3-pybind11 libdlpack-dev python3-venv python3-pip python3-pytest
      python3-numpy python3-torch)  # the Python module (python/) and its tests
case "${1:-}" in
  --fixtures) pkgs+=(python3-h5py python3-skimage) ;;  # run with /usr/bin/python3
  --main) pkgs+=(invesalius-examples) ;;  # the real head CT of the README's main job
esac

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  stamp=/var/lib/apt/periodic/update-success-stamp
  lists=$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)
  if [[ -z "$lists" && ! -f "$stamp" ]] || [[ -z "$lists" ]]; then
    "${sudo_cmd[@]}" apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#pkgs[@]} Debian packages present"
fi

if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  echo "setup: CUDA toolkit at /usr/local/cuda ($(/usr/local/cuda/bin/nvcc --version | tail -n 2 | head -n 1))"
else
  echo "setup: no CUDA toolkit under /usr/local/cuda; the build will be CPU-only"
fi
