#!/usr/bin/env bash
# The Python module's tests (part of scripts/test.sh, after the release build): installs build/ci
# into build/ci-install (the CMake package), makes a virtual environment build/pyenv that sees
# Debian's NumPy, PyTorch, h5py, pytest and pybind11 (scripts/setup.sh installs them), adds
# scikit-build-core from PyPI, runs `pip install .` against the installed package (only the
# bindings compile) and runs pytest on python/tests. Safe to run twice.
#   scripts/python-test.sh [build dir, default build/ci] [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/ci}
shift || true
prefix=$PWD/build/ci-install
venv=$PWD/build/pyenv

echo "== Python module: cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" > /dev/null

if [[ ! -x $venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c 'import scikit_build_core' 2> /dev/null; then
  echo "   installing scikit-build-core from PyPI into $venv"
  "$venv/bin/pip" install -q 'scikit-build-core>=0.8' || {
    echo "python-test: could not install scikit-build-core from PyPI (needed to build the module)" >&2
    exit 1
  }
fi
echo "== pip install . (scikit-build-core; bindings against the installed ddnet)"
CMAKE_PREFIX_PATH=$prefix "$venv/bin/pip" install -q --no-build-isolation --no-deps .
echo "== pytest python/tests"
cd build  # not the source tree: `import ddnet` must find the installed module
"$venv/bin/python" -m pytest ../python/tests -p no:cacheprovider "$@"
