"""The raw simulator: the limit that collection cannot beat.

The same raw env that gpu_sac trains on (`envs.make(name)`, no wrappers), `jax.vmap`ped over
num_envs, stepped inside one jitted `lax.scan` of the same length as a gpu_sac chunk, with a fixed
policy and no learning. What one scan iteration does:

- draw a uniform random action in the env's bounds for every env (one PRNG split and one
  `uniform`: the policy gpu_sac itself uses during start_steps, and one that keeps the simulator
  moving, unlike a zero action, so that MJX's iterative solver does representative work);
- `vmap(env.step)` (or, with group_size, the same grouped stepping as gpu_sac's env_group_size).

What it leaves out, on purpose: no policy network, no replay buffer, no episode bookkeeping and no
resets (envs run past episode_length; a gpu_sac chunk resets each env once per episode_length
steps), no observation normaliser. The state is donated, as gpu_sac's is.
"""

from __future__ import annotations

from typing import Any

import jax


def make_raw_sim(env: Any, num_envs: int, length: int, group_size: int | None = None):
    """(init(key) -> carry, run(carry) -> carry): `run` is jit(scan(step, length)), donated.

    group_size: as gpu_sac's env_group_size (None: one vmap over num_envs)."""
    from gpu_sac.training.rollout import action_bounds, batched_step

    low, high = action_bounds(env)
    v_step = batched_step(env, group_size)
    act_size = int(env.action_size)

    def init(key: jax.Array):
        reset_key, key = jax.random.split(key)
        return jax.vmap(env.reset)(jax.random.split(reset_key, num_envs)), key

    def run(carry):
        def body(carry, _):
            state, key = carry
            key, action_key = jax.random.split(key)
            action = jax.random.uniform(action_key, (num_envs, act_size), minval=low, maxval=high)
            return (v_step(state, action), key), None

        carry, _ = jax.lax.scan(body, carry, None, length=length)
        return carry

    return jax.jit(init), jax.jit(run, donate_argnums=0)

