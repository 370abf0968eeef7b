#!/usr/bin/env bash
# The science experiment of docs/results.md (issue 19): 2D-DDnet against 3D-DDnet (strided and
# grouped loaders, from scratch and by transfer learning; published and residual forms; several
# seeds) on the bundled head CT, scored on a held-out slab at the training dose and at doses and
# a geometry the networks never saw, with paired tests across slices. Never run in CI.
#
#   scripts/experiment.sh [--plan default|smoke] [--seeds 0,1,2] [--device cpu|cuda] [--out DIR]
#
# default: about 2 hours on 2 CPU cores with 3 seeds (run it in the background:
#   nohup scripts/experiment.sh > runs/experiment.log 2>&1 &). Resumable: run it again and it
# continues where it stopped. Writes runs/experiment/<plan>/ and docs/results.md (between its
# GENERATED markers) with docs/results/*.png.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --main
# The analysis: NumPy, SciPy (paired tests), Matplotlib (curves) for /usr/bin/python3.
need=()
for p in python3-numpy python3-scipy python3-matplotlib; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cmake --preset release -S "$root" > /dev/null
cmake --build "$root/build/release" --target ddnet
exec /usr/bin/python3 "$root/scripts/experiment.py" --ddnet "$root/build/release/tools/ddnet" "$@"
