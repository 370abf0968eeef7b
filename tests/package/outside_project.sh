#!/usr/bin/env bash
# Builds an outside CMake project against this build of ddnet *installed*, the way a user's
# project would: `cmake --install` into a fresh prefix, then configure, build and run the
# project's own tests (ctest) with only CMAKE_PREFIX_PATH pointing at the prefix. The project
# sees nothing of the source tree.
#   outside_project.sh <ddnet build dir> <project source dir> <work dir> [extra cmake args...]
# OUTSIDE_CTEST_EXCLUDE, when set, is a regular expression of the project's tests to leave out.
set -euo pipefail
build=$1 project=$2 work=$3
shift 3
rm -rf "$work"
mkdir -p "$work"
echo "== cmake --install $build --prefix $work/prefix"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
echo "   $(grep -c . "$work/install.log") files; package: $(ls "$work"/prefix/lib*/cmake/ddnet/ | tr "\n" " ")"
generator=()
if command -v ninja > /dev/null; then generator=(-G Ninja); fi
echo "== configure $project against the installed ddnet"
cmake -S "$project" -B "$work/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release "$@"
echo "== build"
cmake --build "$work/build" -j "$(nproc)"
echo "== its tests"
exclude=()
if [[ -n ${OUTSIDE_CTEST_EXCLUDE:-} ]]; then exclude=(-E "$OUTSIDE_CTEST_EXCLUDE"); fi
ctest --test-dir "$work/build" --output-on-failure "${exclude[@]}"
