"""What the compiled training program costs, read from XLA rather than timed: a proxy for GPU cost that
any machine can compute (`python -m experiments.program_cost --env CheetahRun` prints it; the benchmark
writes it into each gpu_sac record beside the measured steps/s).

- per env step: XLA's cost analysis (flops, bytes accessed) of one vectorised collect step of the run
  (policy sample, env step with episode ends and resets, replay insert, normaliser), divided by the
  S·N envs it steps. XLA counts the ring's in-place scatter at the whole ring's size (the compiled
  chunk has no copy of the ring: it writes N rows), so the step is costed with a ring of 4·N rows.
  XLA counts a loop's body once, so an MJX solver's while-loop counts one iteration:
  compare configs of one env with each other, not envs with envs. MuJoCo Warp's kernels are FFI calls
  that XLA cannot see into (they count 0): `ffi_calls` says how many the step makes.
- per update: the same for one SAC gradient update on a batch of batch_size rows.
- host_transfers: instructions of the compiled chunk that move data between host and device (host
  callbacks, infeed/outfeed, send/recv). The fused loop must have none: the host sees a chunk's
  metrics only after the scan.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

# What moves data between host and device, in compiled HLO text or lowered StableHLO text: the transfer
# opcodes, and custom calls whose target is a host callback (jax.debug.callback, pure_callback, io_callback).
_HOST_OPCODES = re.compile(r"=\s*\S+\s+(infeed|outfeed|send|recv)\(|stablehlo\.(infeed|outfeed|send|recv)\b")
_CUSTOM_CALL = re.compile(
    r'custom_call_target="([^"]+)"|stablehlo\.custom_call @([\w.$-]+)|call_target_name = "([^"]+)"')


def _targets(text: str) -> list[str]:
    return ["".join(groups) for groups in _CUSTOM_CALL.findall(text)]


def _analysis(compiled: Any) -> dict[str, float]:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # older JAX returned one dict per device
    return {"flops": float(cost.get("flops", 0.0)), "bytes_accessed": float(cost.get("bytes accessed", 0.0))}


def host_transfers(text: str) -> int:
    """Host-device transfer instructions in a program's compiled HLO text (or lowered StableHLO text)."""
    callbacks = [t for t in _targets(text) if "callback" in t.lower()]
    return len(_HOST_OPCODES.findall(text)) + len(callbacks)


# Custom-call targets of XLA and JAX themselves (linear algebra libraries, sharding markers), not FFI of a user's.
_BUILTIN = ("__", "lapack", "cusolver", "cublas", "cu_", "hipsolver", "hipblas", "Sharding", "SPMD", "annotate",
            "mhlo", "xla.", "tpu")


def ffi_calls(text: str) -> int:
    """Custom calls that are neither host callbacks nor known XLA/JAX library targets: MuJoCo Warp's kernels,
    and any other call that XLA's cost analysis cannot see into (MJX's CheetahRun step makes 6 such, Warp's 3)."""
    return sum(1 for t in _targets(text) if "callback" not in t.lower() and not t.startswith(_BUILTIN))


def program_cost(program: Any, state: Any, compiled_chunk: bool = True) -> dict[str, Any]:
    """The cost figures of a one-device `gpu_sac.training.train.Program` at `state` (a TrainState or its shapes).
    compiled_chunk False: host transfers are counted in the chunk's lowered program, which saves
    compiling it again (the benchmark's way: train() compiled it already)."""
    from gpu_sac import replay
    from gpu_sac.agent.learner import make_update
    from gpu_sac.replay.transition import random_transitions
    from gpu_sac.training.train import make_collect, make_init, seed_keys

    config, lay = program.config, program.layout
    envs_stepped = lay.seeds * lay.envs
    small = replay.make_replay(config, program.obs_dim, program.act_dim, capacity=4 * lay.envs, envs=lay.envs)
    small_state = jax.eval_shape(make_init(config, program.env, program.nets, small, lay), seed_keys(config))
    collect = make_collect(config, program.env, program.nets, small, lay)
    collect_compiled = jax.jit(collect, donate_argnums=0).lower(small_state).compile()  # in place, as in the chunk
    step = _analysis(collect_compiled)
    update = make_update(config, program.nets)
    batch = random_transitions(jax.random.PRNGKey(0), config.batch_size, program.obs_dim, program.act_dim, config.gamma)
    agent = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state.agent)  # one agent
    update_compiled = jax.jit(update).lower(agent, batch, jnp.ones(config.batch_size), jax.random.PRNGKey(1),
                                            jnp.zeros((), jnp.int32)).compile()
    one_update = _analysis(update_compiled)
    lowered = program.run_chunk.lower(state)
    chunk_text = lowered.compile().as_text() if compiled_chunk else lowered.as_text()
    return {
        "flops_per_env_step": step["flops"] / envs_stepped,
        "bytes_per_env_step": step["bytes_accessed"] / envs_stepped,
        "flops_per_update": one_update["flops"],
        "bytes_per_update": one_update["bytes_accessed"],
        "host_transfers_in_chunk": host_transfers(chunk_text),
        "host_transfers_counted_in": "compiled HLO" if compiled_chunk else "lowered StableHLO",
        "ffi_calls_per_step": ffi_calls(collect_compiled.as_text()),
        "note": "XLA cost analysis: loop bodies counted once; FFI (MuJoCo Warp) kernels count 0",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="pendulum")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=JSON",
                        help="SACConfig fields, e.g. num_envs=1024 playground_impl='\"warp\"'")
    args = parser.parse_args(argv)
    from gpu_sac import SACConfig
    from gpu_sac.training.train import build, seed_keys

    fields = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    program = build(SACConfig(env=args.env, **fields))
    state = jax.eval_shape(program.init, seed_keys(program.config))
    print(json.dumps(program_cost(program, state), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
