#!/usr/bin/env bash
# MuJoCo Warp for the GPU machine, whose image has no warp-lang: its wheel (warp-lang 1.18.0, the pin of
# mujoco-mjx[warp]; 149 MB) is over what one device call carries (64 MiB with the working tree), so it
# travels in parts, one per call, to the same warm machine (ignored paths stay there between calls).
#   here:   bash experiments/warp_wheel.sh        # .warp/part-aa, -ab, -ac (each < 55 MB), ignored by git
#   device: three calls, carry [".warp/part-aa"], then [".warp/part-ab"], then [".warp/part-ac"], command `true`;
#           then `bash experiments/gpu_session.sh all` (it joins the parts and installs the wheel)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
grep -qx "/.warp/" .git/info/exclude 2>/dev/null || echo "/.warp/" >> .git/info/exclude
rm -rf .warp && mkdir -p .warp/dl
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_34_x86_64 manylinux2014_x86_64; do plat+=(--platform "$p"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" \
  -d .warp/dl warp-lang==1.18.0 2>&1 | grep -v 'WARNING: Location' || true
# gpu_session.sh joins the parts under this name (the one manylinux wheel PyPI has for 1.18.0):
wheel=.warp/dl/warp_lang-1.18.0-py3-none-manylinux_2_28_x86_64.whl
[ -f "$wheel" ] || { echo "expected $wheel; got: $(ls .warp/dl)"; exit 1; }
(cd .warp && split -b 50M "dl/$(basename "$wheel")" part-)
rm -rf .warp/dl
ls -l .warp
