#!/usr/bin/env bash
# The G1 items of issue 10, each sized for one device call (the device's per-call limit is 10 min):
#   here:   MENAGERIE=1 bash ../shared/device/wheels.sh       (wheels and the Go1/G1 meshes into .whl/)
#   device: bash experiments/gpu_session.sh ITEM [ITEM ...]   (carry [".whl"]; results in $OUT/res.tgz)
# ITEM: tts    G1 joystick time to score under the FastSAC recipe, compile included (TTS_S s, default 480)
#       bench  G1 end to end at 1 024 envs, 2 updates per step (16 samples per transition), beside the
#              raw simulator (BENCH_S s, default 420: compiling gpu_sac's G1 programs takes minutes)
#       probe  one gradient update alone at G1's sizes, four variants of the recipe (~1 min)
#       startup  G1's three programs compiled one after the other, then concurrently (train()'s way on
#              a GPU), each in a fresh process (STARTUP_S s, default 540)
#       replay   plain against compact replay, interleaved chunk by chunk (halfcheetah, ~3 min)
# Each item has its own timeout and the results are packed after each, so one that overruns loses only
# itself. Here: `tar xzf res.tgz`, then move res/<device>/... under experiments/results/.
set -u
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" res
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
python3 -m envs.menagerie --from-tgz .whl/menagerie_go1_g1.tgz || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
save() { tar czf "$OUT/res.tgz" res; }
for item in "${@:-tts}"; do
  case $item in
    tts) timeout "$(( ${TTS_S:-480} + 60 ))" python3 -m experiments.time_to_score --preset locomotion-gpu \
           --arms fastsac --budget-s "${TTS_S:-480}" --out res ;;
    bench) timeout "${BENCH_S:-420}" python3 -m experiments.benchmark --preset locomotion-gpu \
             --trainers raw_sim gpu_sac --num-envs 1024 --updates 0 2 --quiet-wait 0 --out res ;;
    probe) mkdir -p res/update_probe && timeout 300 python3 -m experiments.update_probe \
             --out res/update_probe/G1JoystickFlatTerrain.json ;;
    startup) timeout "${STARTUP_S:-540}" python3 -m experiments.startup --env G1JoystickFlatTerrain --preset gpu \
               --repeats 1 --out res ;;
    replay) timeout 300 python3 -m experiments.replay_ab --preset gpu --num-envs 1024 --buffer-size 1048576 \
              --chunk-steps 102400 --pairs 5 --out res ;;
    *) echo "unknown item $item (tts, bench, probe, startup, replay)"; exit 2 ;;
  esac
  save
done
find res -name '*.json' | sort
