"""Stepping a batch of envs inside the scan: action scaling, episode ends, fresh auto-resets, and
deterministic evaluation.

Envs are Brax-style (reset(key) -> State, step(State, action) -> State, State.obs/.reward/.done)
and unbatched; here they are vmapped over a flat batch of M envs (num_seeds · num_envs).

Episode ends, done here rather than by env wrappers:
- terminated: the env's `done`. The transition does not bootstrap.
- truncated: the episode reached episode_length without terminating. It bootstraps from the true
  final observation, which is returned as `next_obs` before the env is reset.
- a finished env restarts from `env.reset` with a fresh key (Brax's AutoResetWrapper restarts from
  a cached first state instead, so every episode of an env starts the same). The reset runs only on
  vectorised steps where some episode ended (`lax.cond`), so fixed-length episodes pay for it once
  per episode rather than on every step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from gpu_sac.agent.networks import scale_action


@struct.dataclass
class EnvCarry:
    """The training envs between steps. state: env State with leading axis M; the rest (M,)."""

    state: Any
    episode_step: jax.Array  # int32: steps taken in the current episode
    episode_return: jax.Array  # float32: undiscounted return of the current episode so far


class StepOutput(NamedTuple):
    """What one vectorised step produced, each with leading axis M."""

    obs: jax.Array  # (M, obs_dim): the observation acted on
    reward: jax.Array  # (M,)
    next_obs: jax.Array  # (M, obs_dim): the true next observation, final one included
    terminated: jax.Array  # (M,) bool
    truncated: jax.Array  # (M,) bool
    episode_return: jax.Array  # (M,): the finished episode's return where terminated | truncated


def action_bounds(env: Any) -> tuple[jax.Array, jax.Array]:
    """(low, high) of shape (action_size,): env.action_bounds if it has one, else [−1, 1]."""
    bounds = getattr(env, "action_bounds", None)
    if bounds is None:
        return -jnp.ones(env.action_size), jnp.ones(env.action_size)
    low, high = bounds
    return jnp.broadcast_to(jnp.asarray(low, jnp.float32), (env.action_size,)), jnp.broadcast_to(
        jnp.asarray(high, jnp.float32), (env.action_size,)
    )


def env_axes(env: Any, state: Any, m: int) -> Any:
    """None if every leaf of `state` (the states of M envs) carries the env axis; otherwise the
    state's pytree with, at each leaf, whether it does.

    MJX's (and every pure-JAX env's) state is batched leaf by leaf. MuJoCo Warp's `Data` is not: its
    contact buffers (`naconmax` rows for all worlds together) and a few counters are shared by the worlds
    and keep their shape under `vmap` (mujoco.mjx.warp.types.DATA_NON_VMAP). Which leaves those are is
    read from the shapes of one traced reset (no compile), so no env family's private field list is
    needed; where every leaf has M rows (every env but Warp's, whose counters have one) nothing is traced."""
    if all(jnp.shape(x)[:1] == (m,) for x in jax.tree.leaves(state)):
        return None
    single = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    return jax.tree.map(lambda s, x: jnp.shape(x) != s.shape, single, state)


def _select(mask: jax.Array, on_true: Any, on_false: Any, axes: Any = None) -> Any:
    """Per-env choice between two env-state pytrees with leading axis M. axes (`env_axes`): a leaf
    without the env axis (shared by all worlds, as Warp's contact buffers) is taken from on_false, the
    state just stepped: it is scratch that the next step recomputes."""

    def pick(a, b, batched=True):
        if not batched:
            return b
        m = mask.reshape(mask.shape + (1,) * (b.ndim - 1))
        return jnp.where(m, a, b).astype(b.dtype)

    if axes is None:
        return jax.tree.map(pick, on_true, on_false)
    return jax.tree.map(pick, on_true, on_false, axes)


def reset(env: Any, keys: jax.Array) -> EnvCarry:
    """Fresh envs from keys (M, 2)."""
    m = keys.shape[0]
    return EnvCarry(jax.vmap(env.reset)(keys), jnp.zeros(m, jnp.int32), jnp.zeros(m, jnp.float32))


def batched_step(env: Any, group_size: int | None = None) -> Callable:
    """step(state (M, ...), action (M, act_dim)) -> state (M, ...): env.step over a flat batch.

    group_size None: one `vmap` over all M envs. group_size g (dividing M): the M envs are stepped
    as M/g sequential groups of g (a scan over vmapped groups). Measured on a 2-core CPU, raw
    halfcheetah (MJX) steps, 256 envs: 3 400 env steps/s in groups of 16, 2 500 in groups of 8,
    1 100 in groups of 32 or as one batch. Our reading (not profiled further): MJX's solver is a
    while-loop that, vmapped, iterates until the slowest env of the batch converges, and XLA:CPU
    runs wide batches no faster per env; a GPU runs the batch in parallel, so there use one vmap.
    Each env's transitions are the same either way (bitwise in tests/training/test_train.py's check).
    An env whose state has leaves shared by all worlds (MuJoCo Warp's, see `env_axes`) carries them
    from group to group rather than cutting them into groups.
    """
    v_step = jax.vmap(env.step)
    if group_size is None:
        return v_step

    def step(state: Any, action: jax.Array) -> Any:
        m = action.shape[0]
        if m <= group_size:
            return v_step(state, action)
        leaves, treedef = jax.tree.flatten(state)
        axes = env_axes(env, state, m)
        batched = [True] * len(leaves) if axes is None else treedef.flatten_up_to(axes)
        per_env = [x.reshape((m // group_size, group_size) + x.shape[1:])
                   for x, b in zip(leaves, batched, strict=True) if b]
        shared = [x for x, b in zip(leaves, batched, strict=True) if not b]

        def merge(per_env_leaves, shared_leaves):
            per_env_it, shared_it = iter(per_env_leaves), iter(shared_leaves)
            return treedef.unflatten([next(per_env_it) if b else next(shared_it) for b in batched])

        def group(shared_leaves, xs):
            per_env_leaves, a = xs
            out = jax.tree.leaves(v_step(merge(per_env_leaves, shared_leaves), a))
            pairs = list(zip(out, batched, strict=True))
            return [x for x, b in pairs if not b], [x for x, b in pairs if b]

        action = action.reshape((m // group_size, group_size) + action.shape[1:])
        shared, per_env = jax.lax.scan(group, shared, (per_env, action))
        return merge([x.reshape((m,) + x.shape[2:]) for x in per_env], shared)

    return step


def make_env_step(env: Any, episode_length: int, group_size: int | None = None) -> Callable:
    """env_step(carry, action (M, act_dim) in [−1, 1], reset_keys (M, 2)) -> (carry, StepOutput).

    group_size: see `batched_step`.
    """
    low, high = action_bounds(env)
    v_step = batched_step(env, group_size)
    v_reset = jax.vmap(env.reset)

    def env_step(carry: EnvCarry, action: jax.Array, reset_keys: jax.Array) -> tuple[EnvCarry, StepOutput]:
        carry_obs = carry.state.obs
        next_state = v_step(carry.state, scale_action(action, low, high))
        terminated = next_state.done > 0.5
        episode_step = carry.episode_step + 1
        truncated = (episode_step >= episode_length) & ~terminated
        end = terminated | truncated
        episode_return = carry.episode_return + next_state.reward
        reset_state = jax.lax.cond(jnp.any(end), lambda: v_reset(reset_keys), lambda: next_state)
        carry = EnvCarry(
            state=_select(end, reset_state, next_state, env_axes(env, next_state, end.shape[0])),
            episode_step=jnp.where(end, 0, episode_step),
            episode_return=jnp.where(end, 0.0, episode_return),
        )
        return carry, StepOutput(
            obs=carry_obs,
            reward=next_state.reward,
            next_obs=next_state.obs,
            terminated=terminated,
            truncated=truncated,
            episode_return=episode_return,
        )

    return env_step


def make_evaluate(env: Any, episode_length: int, num_episodes: int, policy: Callable) -> Callable:
    """evaluate(agent, keys (S, 2)) -> (undiscounted returns (S, num_episodes), success (S, num_episodes)).

    policy(agent, obs (E, obs_dim)) -> action (E, act_dim) in [−1, 1], for one agent (it is vmapped
    over the S agents). Each episode runs until it terminates or reaches episode_length; an env
    that terminated keeps stepping but adds nothing (where, not multiply: a diverged sim's NaN
    reward must not leak into the return). success: the env's `info["success"]` at the episode's
    last step (goal envs, as gymnasium-robotics' is_success at the episode's end); NaN for an env
    that reports none.
    """
    low, high = action_bounds(env)
    v_step = jax.vmap(env.step)

    def success_of(state: Any) -> jax.Array:
        info = getattr(state, "info", None) or {}
        return info["success"].astype(jnp.float32) if "success" in info else jnp.full(state.reward.shape, jnp.nan)

    def evaluate(agent: Any, keys: jax.Array) -> tuple[jax.Array, jax.Array]:
        s = keys.shape[0]
        e = num_episodes
        state = jax.vmap(env.reset)(jax.vmap(lambda k: jax.random.split(k, e))(keys).reshape(s * e, -1))

        def body(carry, _):
            state, total, success, alive = carry
            action = jax.vmap(policy)(agent, state.obs.reshape(s, e, -1)).reshape(s * e, -1)
            state = v_step(state, scale_action(action, low, high))
            total = total + jnp.where(alive, state.reward, 0.0)
            success = jnp.where(alive, success_of(state), success)
            return (state, total, success, alive & (state.done < 0.5)), None

        init = (state, jnp.zeros(s * e), success_of(state), jnp.ones(s * e, bool))
        (_, total, success, _), _ = jax.lax.scan(body, init, None, length=episode_length)
        return total.reshape(s, e), success.reshape(s, e)

    return evaluate
