#!/usr/bin/env bash
# The HDF5 writers (dataset, checkpoint) on a full disk: runs the CPU suite's hidden [full-disk]
# cases with DDNET_FULL_DISK_DIR on a 1 MiB tmpfs, mounted in a user and mount namespace of its
# own (unshare -r -m), and checks the process ends normally: an HDF5 file left open would make
# the library fail again, or crash, when it closes everything at exit. Exit 77 (SKIPPED) where
# unprivileged user namespaces or the mount are not allowed.
set -uo pipefail
probe="$1"
if [[ -z "${DDNET_FULL_DISK_DIR:-}" ]]; then
  command -v unshare >/dev/null || { echo "SKIPPED: no unshare (util-linux)"; exit 77; }
  unshare -r -m true 2>/dev/null || { echo "SKIPPED: no user and mount namespaces here"; exit 77; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir "$tmp/full"
  DDNET_FULL_DISK_DIR="$tmp/full" unshare -r -m bash "$0" "$@"
  exit $?
fi
mount -t tmpfs -o size=1m ddnet-full-disk "$DDNET_FULL_DISK_DIR" 2>/dev/null ||
  { echo "SKIPPED: cannot mount a tmpfs in the namespace"; exit 77; }
"$probe" "[full-disk]"
rc=$?
if ((rc >= 128)); then echo "the test process was killed by signal $((rc - 128))"; exit 1; fi
exit "$rc"
