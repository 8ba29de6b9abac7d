#!/usr/bin/env bash
# Every GPU figure in one device call: `bash experiments/gpu_session.sh all` (fits the device's 10-minute
# call in ALL_S s, default 540), writing each record as it finishes, most valuable first:
#   raw      the raw simulator, MuJoCo Warp then MJX, G1 joystick and CheetahRun at 1 024 / 4 096 / 8 192 envs
#   e2e      gpu_sac end to end on G1 with Warp (FastSAC's recipe, 4 096 envs, 8 updates of batch 8 192 per
#            vectorised step: 16 samples drawn per collected transition), beside Warp's raw simulator
#   startup  command to first chunk, caches cold then warm: G1 (recipe) with Warp, CheetahRun (gpu) Warp vs MJX
#   tts      G1 time to score under the FastSAC recipe (Warp: playground_impl auto) for the rest of the budget
# Older single items (each its own call): bench, probe, startup_serial, replay (see the case list below).
#
# Before the device calls, here:
#   MENAGERIE=1 bash ../shared/device/wheels.sh    # .whl/: brax, mujoco, mjx, playground, ... and Go1/G1 meshes
#   bash experiments/warp_wheel.sh                 # .warp/part-aa, -ab, -ac: warp-lang 1.18.0 (149 MB) in 3 parts
# The device calls (one warm machine; ignored paths carried once stay there for the next call):
#   1-3. carry [".warp/part-aa"], then [".warp/part-ab"], then [".warp/part-ac"]; command: true
#   4.   carry [".whl"]; command: bash experiments/gpu_session.sh all ; timeout_s 590
# If the GPU image has warp-lang already (python3 -c 'import warp'), calls 1-3 are not needed.
# Results: $OUT/res.tgz (packed after each item); here `tar xzf res.tgz`, then move res/<device>/... under
# experiments/results/.
set -u
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" res
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
if ! python3 -c 'import warp' 2>/dev/null; then
  if ls .warp/part-* >/dev/null 2>&1; then
    wheel=/tmp/warp_lang-1.18.0-py3-none-manylinux_2_28_x86_64.whl
    cat .warp/part-* > "$wheel" && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target /tmp/site "$wheel" || echo "warp-lang did not install: Playground envs run on MJX"
  else
    echo "no warp-lang (bash experiments/warp_wheel.sh, then carry .warp/part-* first): Playground envs run on MJX"
  fi
fi
python3 -c 'import warp; print("warp-lang", warp.config.version)' 2>/dev/null
python3 -m gpu_sac.envs.menagerie --from-tgz .whl/menagerie_go1_g1.tgz || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
save() { tar czf "$OUT/res.tgz" res; }
left() { echo $(( ${ALL_S:-540} - ($(date +%s) - t0) )); }          # seconds left of `all`'s budget
budget() { local want=$1 rest; rest=$(left); echo $(( want < rest ? want : rest )); }   # min(want, left)
run_item() {
  local item=$1 s
  case $item in
    raw) s=$(budget "${RAW_S:-200}"); [ "$s" -gt 20 ] && timeout "$s" python3 -m experiments.benchmark \
           --preset physics-gpu --trainers raw_sim --quiet-wait 0 --no-cost --out res --cases \
           G1JoystickFlatTerrain-warp CheetahRun-warp G1JoystickFlatTerrain-jax CheetahRun-jax ;;
    e2e) s=$(budget "${E2E_S:-150}"); [ "$s" -gt 30 ] && timeout "$s" python3 -m experiments.benchmark \
           --preset physics-gpu --cases G1JoystickFlatTerrain-fastsac-warp --trainers gpu_sac --quiet-wait 0 \
           --no-cost --out res ;;
    startup) s=$(budget "${STARTUP_S:-120}"); [ "$s" -gt 30 ] && timeout "$s" bash -c \
           "python3 -m experiments.startup --env G1JoystickFlatTerrain --preset fastsac --physics warp --out res; \
            python3 -m experiments.startup --env CheetahRun --preset gpu --physics warp jax --out res" ;;
    tts) s=$(budget "${TTS_S:-600}"); [ "$s" -gt 60 ] && timeout "$s" python3 -m experiments.time_to_score \
           --preset locomotion-gpu --arms fastsac --budget-s "$(( s - 30 ))" --out res ;;
    # Single items of earlier sessions (each sized for one call of its own):
    bench) timeout "${BENCH_S:-420}" python3 -m experiments.benchmark --preset locomotion-gpu \
             --trainers raw_sim gpu_sac --num-envs 1024 --updates 0 2 --quiet-wait 0 --no-cost --out res ;;
    probe) mkdir -p res/update_probe && timeout 300 python3 -m experiments.update_probe \
             --out res/update_probe/G1JoystickFlatTerrain.json ;;
    startup_serial) timeout "${STARTUP_S:-540}" python3 -m experiments.startup --env G1JoystickFlatTerrain \
               --preset gpu --repeats 1 --out res ;;
    replay) timeout 300 python3 -m experiments.replay_ab --preset gpu --num-envs 1024 --buffer-size 1048576 \
              --chunk-steps 102400 --pairs 5 --out res ;;
    *) echo "unknown item $item (all, raw, e2e, startup, tts, bench, probe, startup_serial, replay)"; exit 2 ;;
  esac
  echo "item $item: exit $? at $(( $(date +%s) - t0 )) s"
  save
}
items=("$@")
[ ${#items[@]} -eq 0 ] && items=(all)
for item in "${items[@]}"; do
  if [ "$item" = all ]; then
    for i in raw e2e startup tts; do run_item "$i"; done
  else
    ALL_S=${ALL_S:-100000} run_item "$item"
  fi
done
find res -name '*.json' | sort
