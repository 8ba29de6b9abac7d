#!/usr/bin/env bash
# The GPU items of issues 9 and 10 that fit one lent device call (~10 min), run on the device machine:
#   here:   MENAGERIE=1 bash ../shared/device/wheels.sh     (wheels and the Go1/G1 meshes into .whl/)
#   device: bash experiments/gpu_session.sh                  (carry [".whl"]; results come back in $OUT/res.tgz)
# Each step has its own timeout and the results are packed after each, so a step that overruns loses
# only itself. Unpack here with `tar xzf res.tgz` and move res/<device>/... under experiments/results/.
set -u
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" res
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
python3 -m envs.menagerie --from-tgz .whl/menagerie_go1_g1.tgz || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
save() { tar czf "$OUT/res.tgz" res; }
# Issue 10: G1 end to end at the recipe's batch (8 192) with 2 updates per vectorised step of 1 024 envs
# (16 samples per collected transition), beside the raw simulator at 1 024 envs.
timeout "${BENCH_S:-200}" python3 -m experiments.benchmark --preset locomotion-gpu --trainers raw_sim gpu_sac \
  --num-envs 1024 --updates 0 2 --quiet-wait 0 --out res
save
# Issue 10: G1 joystick time to score under the FastSAC recipe (the env's GPU preset), compile included.
timeout "$(( ${TTS_S:-260} + 60 ))" python3 -m experiments.time_to_score --preset locomotion-gpu --arms fastsac \
  --budget-s "${TTS_S:-260}" --out res
save
find res -name '*.json' | sort
