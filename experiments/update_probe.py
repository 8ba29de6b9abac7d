"""Time one SAC gradient update alone, on random data at an env's dimensions, for a few variants of
the large-batch recipe: where does an update's time go (C51 or scalar critics, bf16 or float32)?

    python -m experiments.update_probe                  # G1 joystick's dims, FastSAC's batch
    python -m experiments.update_probe --batch 1024 --updates 4

Prints one line per variant (milliseconds per update, median of the repeats) and writes them as
JSON with --out. No env is built: the update's cost apart from simulation and replay.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from experiments import harness
from gpu_sac import SACConfig
from gpu_sac.agent.learner import init_agent, make_update
from gpu_sac.agent.networks import make_networks
from gpu_sac.envs.dict_obs import ObsLayout
from gpu_sac.envs.recipes import FASTSAC
from gpu_sac.replay.transition import random_transitions

# G1JoystickFlatTerrain flattened (gpu_sac/envs/dict_obs.py): 216 columns, the actor reads the first 103; 29 joints.
G1_DIMS = dict(obs_dim=216, actor_cols=103, act_dim=29)
VARIANTS = {
    "fastsac": {},
    "scalar_critic": dict(critic_type="scalar"),
    "float32": dict(compute_dtype="float32"),
    "scalar_float32": dict(critic_type="scalar", compute_dtype="float32"),
}


def time_variant(overrides: dict, batch: int, updates: int, repeats: int, obs_dim: int, actor_cols: int,
                 act_dim: int) -> dict:
    """Milliseconds per update of `updates` updates in one jitted scan, each on a fresh random batch."""
    fields = dict(FASTSAC, batch_size=batch, **overrides)
    config = SACConfig(env="pendulum", **fields)
    nets = make_networks(config, obs_dim, act_dim, ObsLayout(actor=(0, actor_cols), critic=(0, obs_dim)))
    update = make_update(config, nets)

    @jax.jit
    def run(agent, key):
        def body(agent, i):
            k_batch, k_update = jax.random.split(jax.random.fold_in(key, i))
            data = random_transitions(k_batch, batch, obs_dim, act_dim, discount=0.97)
            agent, aux, _ = update(agent, data, jnp.ones((batch,)), k_update, i)
            return agent, aux["critic_loss"]
        return jax.lax.scan(body, agent, jnp.arange(updates))

    agent = init_agent(config, nets, jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    agent, loss = jax.block_until_ready(run(agent, jax.random.PRNGKey(1)))
    compile_s = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        agent, loss = jax.block_until_ready(run(agent, jax.random.PRNGKey(2 + r)))
        times.append((time.perf_counter() - t0) / updates * 1e3)
    return dict(ms_per_update=statistics.median(times), ms_values=times, first_call_s=compile_s,
                final_loss=float(loss[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=FASTSAC["batch_size"])
    parser.add_argument("--updates", type=int, default=50, help="updates per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    results = {}
    for name in args.variants:
        results[name] = time_variant(VARIANTS[name], args.batch, args.updates, args.repeats, **G1_DIMS)
        r = results[name]
        print(f"{name:16s} {r['ms_per_update']:8.3f} ms/update  (first call {r['first_call_s']:.1f} s)", flush=True)
    if args.out:
        harness.write_record(args.out, dict(device=f"{device.platform}: {device.device_kind}", batch=args.batch,
                                            updates=args.updates, dims=G1_DIMS, variants=results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
