"""The fused training program and `train()`.

One run is one JAX program over a TrainState pytree:

    state = init(seed_keys)          # agents, replay buffers, envs, PRNG keys, counter
    for chunk in range(num_chunks):  # host loop: only here do figures leave the device
        state, metrics = run_chunk(state)   # jit(scan(iteration, iterations_per_chunk)), donated
        evaluate / log / callback

    iteration(state):
        act with the stochastic policy (uniform random during start_steps) on all envs
        → vmapped env.step with auto-reset → n-step window (n > 1) → in-place ring-buffer write
        → once min_replay_size transitions are in: one gather of grad_updates_per_step batches
          → scan of fused SAC updates

There is no separate prefill stage: the first iterations of the first chunk(s) collect without
learning (a `lax.cond` on the step counter), so the env step is compiled once for training, not
twice (an MJX env takes tens of seconds to compile on a CPU).

Everything per agent carries a leading seed axis S (num_seeds): `jax.vmap` over agents trains S
independent agents in one program. The envs of all agents are stepped as one flat batch of
S · num_envs (one env kernel, not S), and agent s uses PRNG key `PRNGKey(seed + s)` for all of
its randomness, so agent s follows the same run as a single-agent run with seed + s.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gpu_sac import memory, normalizer, nstep, replay, rollout
from gpu_sac.config import SACConfig
from gpu_sac.learner import AgentState, current_alpha, init_agent, make_networks, make_update
from gpu_sac.losses import policy_sample
from gpu_sac.policy import PolicyParams, make_act


class TrainingDiverged(RuntimeError):
    """A loss or parameter became non-finite; the message names the metric and the env step."""


@struct.dataclass
class TrainState:
    """The whole run. agent, buffer, nstep and key carry a leading seed axis S; env is flat (S·N)."""

    agent: AgentState
    buffer: replay.ReplayBuffer
    env: rollout.EnvCarry
    nstep: nstep.NStepWindow | None  # None when n_step == 1
    key: jax.Array  # (S, 2) uint32: each agent's PRNG key
    iteration: jax.Array  # () int32: vectorised env steps taken (config validation bounds it)
    updates: jax.Array  # () int32: gradient updates taken per agent (config validation bounds it)


class Program(NamedTuple):
    """The jitted stages of one run, built once for a config and an env."""

    config: SACConfig
    env: Any
    obs_dim: int
    act_dim: int
    init: Callable  # (seed_keys (S, 2)) -> TrainState
    run_chunk: Callable  # (TrainState) -> (TrainState, metrics {name: (S,)}), donated
    evaluate: Callable  # (AgentState, keys (S, 2)) -> returns (S, eval_episodes)
    act: Callable  # (PolicyParams, obs, key=None, deterministic=True) -> action


def seed_keys(config: SACConfig) -> jax.Array:
    """(S, 2): PRNGKey(seed + s) for agent s."""
    return jnp.stack([jax.random.PRNGKey(config.seed + s) for s in range(config.num_seeds)])


def build(config: SACConfig, env: Any = None) -> Program:
    """Make the env (unless given) and the run's jitted stages."""
    import envs

    if env is None:
        env = envs.make_env(config)
    obs_dim, act_dim = envs.check_env(env)
    nets = make_networks(config, act_dim)
    update = make_update(config, nets, act_dim)
    env_step = rollout.make_env_step(env, config.episode_length, config.env_group_size)
    S, N, U, B = config.num_seeds, config.num_envs, config.grad_updates_per_step, config.batch_size
    random_iterations = -(-config.start_steps // N)  # compared with the counter: no int32 product

    def over_agents(fn: Callable, in_axes: Any = 0) -> Callable:
        """fn mapped over the leading seed axis: jax.vmap for several agents; for one agent, fn on it
        directly (axis dropped, then restored). A vmap over an axis of size 1 is not free on XLA:CPU:
        it compiles LayerNorm's parameter-gradient reductions into slow fusions (~2.6 ms per update
        at (256, 256)), which costs ~15 % of halfcheetah's steps/s at 16 envs."""
        if S > 1:
            return jax.vmap(fn, in_axes=in_axes)

        def single(*args):
            axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
            args = [a if ax is None else jax.tree.map(lambda x: x[0], a) for a, ax in zip(args, axes, strict=True)]
            return jax.tree.map(lambda x: x[None], fn(*args))

        return single

    def init(keys: jax.Array) -> TrainState:
        def one(key):
            agent_key, env_key, key = jax.random.split(key, 3)
            window = nstep.init(N, config.n_step, obs_dim, act_dim) if config.n_step > 1 else None
            buffer = replay.init(config.buffer_size, obs_dim, act_dim, config.prioritized_replay)
            return init_agent(config, obs_dim, act_dim, agent_key), buffer, window, jax.random.split(env_key, N), key

        agent, buffer, window, env_keys, keys = jax.vmap(one)(keys)
        env_carry = rollout.reset(env, env_keys.reshape(S * N, -1))
        zero = jnp.zeros((), jnp.int32)
        return TrainState(agent, buffer, env_carry, window, keys, iteration=zero, updates=zero)

    def collect(ts: TrainState):
        """One vectorised env step for all agents; the transitions go into the replay buffers."""
        split = jax.vmap(lambda k: jax.random.split(k, 5))(ts.key)  # (S, 5, 2)
        key, act_key, random_key, reset_key, learn_key = (split[:, i] for i in range(5))
        obs = ts.env.state.obs.reshape(S, N, obs_dim)

        def policy(agent, o, k):
            return policy_sample(nets, agent.actor_params, normalizer.normalize(agent.obs_stats, o), k)[0]

        random_action = jax.vmap(lambda k: jax.random.uniform(k, (N, act_dim), minval=-1.0, maxval=1.0))(random_key)
        action = jnp.where(
            ts.iteration < random_iterations, random_action, over_agents(policy)(ts.agent, obs, act_key)
        )
        reset_keys = jax.vmap(lambda k: jax.random.split(k, N))(reset_key).reshape(S * N, -1)
        env_carry, out = env_step(ts.env, action.reshape(S * N, act_dim), reset_keys)

        per_agent = lambda x: x.reshape(S, N, *x.shape[1:])  # noqa: E731
        terminated = per_agent(out.terminated)
        step = replay.Transition(
            obs=obs,
            action=action,
            reward=per_agent(out.reward) * config.reward_scale,
            next_obs=per_agent(out.next_obs),
            discount=config.gamma * (1.0 - terminated.astype(jnp.float32)),
        )
        buffer, window = ts.buffer, ts.nstep
        if window is None:
            buffer = over_agents(replay.insert)(buffer, step)
        else:
            episode_end = terminated | per_agent(out.truncated)
            window, emitted, valid = over_agents(nstep.push, in_axes=(0, 0, 0, None, None))(
                window, step, episode_end, ts.iteration, config.gamma
            )
            # valid is the same for every agent (it depends on the step counter alone).
            buffer = jax.lax.cond(valid[0], lambda: over_agents(replay.insert)(buffer, emitted), lambda: buffer)
        agent = ts.agent
        if config.normalize_observations:
            agent = agent.replace(obs_stats=over_agents(normalizer.update)(agent.obs_stats, obs))
        ended = per_agent(out.terminated | out.truncated)
        episodes = {
            "episodes": ended.sum(-1),
            "train_return_sum": jnp.where(ended, per_agent(out.episode_return), 0.0).sum(-1),
        }
        ts = ts.replace(agent=agent, buffer=buffer, env=env_carry, nstep=window, key=key)
        return ts, learn_key, episodes

    def learn(agent: AgentState, buffer: replay.ReplayBuffer, key: jax.Array, first_update: jax.Array):
        """grad_updates_per_step updates for one agent, from one gather of U·B transitions (with
        prioritised replay, all U batches are drawn with the priorities as they were before this
        step's updates, which then refresh the priorities of the rows they used)."""
        sample_key, key = jax.random.split(key)
        batches, index, weight = replay.sample(buffer, sample_key, (U, B), config.per_alpha, config.per_beta)
        update_keys = jax.random.split(key, U)

        def body(carry, x):
            agent, buffer = carry
            batch, idx, w, k, i = x
            agent, metrics, td_error = update(agent, batch, w, k, first_update + i)
            buffer = replay.update_priority(buffer, idx, td_error, config.per_eps)
            return (agent, buffer), metrics

        xs = (batches, index, weight, update_keys, jnp.arange(U, dtype=jnp.int32))
        (agent, buffer), metrics = jax.lax.scan(body, (agent, buffer), xs)
        return agent, buffer, jax.tree.map(jnp.mean, metrics)

    metric_names = ("critic_loss", "actor_loss", "alpha_loss", "q", "target_q", "entropy", "alpha")

    def iteration(ts: TrainState, _):
        ts, learn_key, episodes = collect(ts)

        def learn_all(ts: TrainState):
            agent, buffer, metrics = over_agents(learn, in_axes=(0, 0, 0, None))(
                ts.agent, ts.buffer, learn_key, ts.updates
            )
            return ts.replace(agent=agent, buffer=buffer, updates=ts.updates + U), metrics

        def skip(ts: TrainState):  # buffer below min_replay_size: collect only
            return ts, {name: jnp.zeros(S) for name in metric_names}

        # Every agent's buffer holds the same number of transitions, so the predicate is one scalar
        # and this stays a real branch rather than a select under vmap. It reads the buffer, not the
        # step counter, so a run resumed without its replay buffer refills it before learning.
        learning = ts.buffer.size[0] >= config.min_replay_size
        ts, metrics = jax.lax.cond(learning, learn_all, skip, ts)
        return ts.replace(iteration=ts.iteration + 1), dict(metrics, learning=learning, **episodes)

    def run_chunk(ts: TrainState):
        ts, metrics = jax.lax.scan(iteration, ts, None, length=config.iterations_per_chunk)
        learning = metrics.pop("learning").astype(jnp.float32)[:, None]  # (K, 1)
        episodes = metrics.pop("episodes").sum(0)
        returns = metrics.pop("train_return_sum").sum(0)
        # Means over the iterations that learned (NaN if none did: the buffer was still filling).
        summary = jax.tree.map(lambda x: (x * learning).sum(0) / learning.sum(), metrics)
        summary["alpha"] = jax.vmap(lambda la: current_alpha(config, la))(ts.agent.log_alpha)
        summary["train_return"] = jnp.where(episodes > 0, returns / jnp.maximum(episodes, 1), jnp.nan)
        summary["train_episodes"] = episodes
        finite = [jnp.all(jnp.isfinite(leaf), axis=tuple(range(1, leaf.ndim))) for leaf in jax.tree.leaves(
            (ts.agent.actor_params, ts.agent.critic_params, ts.agent.log_alpha))]
        summary["params_finite"] = jnp.stack(finite).all(0)
        summary["updates"] = ts.updates
        return ts, summary

    def deterministic_action(agent: AgentState, obs: jax.Array) -> jax.Array:
        mean, _ = nets.actor_apply(agent.actor_params, normalizer.normalize(agent.obs_stats, obs))
        return jnp.tanh(mean)

    evaluate = rollout.make_evaluate(env, config.episode_length, max(config.eval_episodes, 1), deterministic_action)
    act = make_act(
        obs_dim, act_dim, config.hidden_sizes, config.log_std_min, config.log_std_max, config.deterministic_policy
    )
    return Program(
        config=config,
        env=env,
        obs_dim=obs_dim,
        act_dim=act_dim,
        init=jax.jit(init),
        run_chunk=jax.jit(run_chunk, donate_argnums=0),
        evaluate=jax.jit(evaluate),
        act=act,
    )


def select_seed(tree: Any, index: int) -> Any:
    """Agent `index` of a pytree with a leading seed axis."""
    return jax.tree.map(lambda x: x[index], tree)


@dataclass
class TrainResult:
    """What `train` returns.

    params: {"actor", "critic", "target_critic", "log_alpha", "obs_stats"}; with num_seeds > 1 each
    leaf has a leading seed axis. history: one dict per chunk (see `train`). state: the final
    TrainState (for checkpoints). act: jittable act function of the trained policy (num_seeds = 1;
    use `result.for_seed(i).act` otherwise).
    """

    config: SACConfig
    params: dict[str, Any]
    history: list[dict[str, Any]]
    state: TrainState | None = None
    program: Program | None = field(default=None, repr=False)
    compile_s: float = 0.0

    def for_seed(self, index: int) -> TrainResult:
        """The result of agent `index` alone (its params without the seed axis)."""
        if self.config.num_seeds == 1:
            return self
        return TrainResult(
            config=self.config,
            params=select_seed(self.params, index),
            history=[_select_record(r, index) for r in self.history],
            state=None,
            program=self.program,
            compile_s=self.compile_s,
        )

    def policy(self) -> PolicyParams:
        if jnp.ndim(self.params["log_alpha"]) > 0:
            raise ValueError("this result holds several agents: use result.for_seed(i).policy()")
        low, high = rollout.action_bounds(self.program.env)
        return PolicyParams(self.params["actor"], self.params["obs_stats"], low, high)

    def act(self, obs: jax.Array, key: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        """Action(s) of the trained policy for obs (obs_dim,) or (batch, obs_dim); jittable."""
        return self.program.act(self.policy(), obs, key=key, deterministic=deterministic)


def _select_record(record: dict[str, Any], index: int) -> dict[str, Any]:
    return {k: (v[index] if isinstance(v, list) else v) for k, v in record.items()}


def agent_params(agent: AgentState, config: SACConfig) -> dict[str, Any]:
    params = {
        "actor": agent.actor_params,
        "critic": agent.critic_params,
        "target_critic": agent.target_critic_params,
        "log_alpha": agent.log_alpha,
        "obs_stats": agent.obs_stats,
    }
    return select_seed(params, 0) if config.num_seeds == 1 else params


def _scalar_or_list(values: np.ndarray) -> Any:
    values = np.asarray(values, dtype=np.float64)
    return float(values[0]) if values.shape[0] == 1 else [float(v) for v in values]


def train(
    config: SACConfig,
    env: Any = None,
    *,
    callback: Callable[[TrainState, dict[str, Any]], None] | None = None,
    state: TrainState | None = None,
    history: list[dict[str, Any]] | None = None,
    verbose: bool = False,
    program: Program | None = None,
) -> TrainResult:
    """Train SAC as configured; return parameters, per-chunk history and the final state.

    env: any Brax-style env object (default: `envs.make_env(config)`). program: one already built
    by `build(config, env)` (run_experiment builds it once and passes it). callback(state, record) runs
    after each chunk (checkpoints, logs, progress bars). state/history: continue a run from a
    TrainState taken after a chunk (resume), skipping init.

    Each history record: env_steps and updates (per agent, cumulative), wall_s (since train began),
    sps (env steps per second of this chunk, over all agents, evaluation excluded), eval_return
    and eval_return_std (deterministic policy, eval_episodes episodes), train_return (mean return
    of the training episodes that ended in the chunk), alpha, critic_loss, actor_loss, alpha_loss,
    q, target_q, entropy. With num_seeds > 1, each figure is a list, one per agent.
    """
    start = time.perf_counter()
    if program is None:
        program = build(config, env)
    elif program.config != config:
        raise ValueError("train(config, program=...): the program was built for another config")
    memory.check_fits(config, program.obs_dim, program.act_dim)
    if config.trained_steps != config.total_steps:
        warnings.warn(
            f"total_steps={config.total_steps} is not a whole number of chunks "
            f"({config.iterations_per_chunk} vectorised steps x num_envs={config.num_envs}): "
            f"training {config.trained_steps} env steps",
            stacklevel=2,
        )
    history = list(history or [])
    if state is None:
        state = program.init(seed_keys(config))
    start_chunk = len(history)
    # Compile the chunk ahead of time, so that compile time is measured apart from steps/s.
    compile_start = time.perf_counter()
    run_chunk = program.run_chunk.lower(state).compile()
    compile_s = time.perf_counter() - compile_start
    eval_base = seed_keys(config)
    wall_before = history[-1]["wall_s"] if history else 0.0
    steps_per_chunk = config.iterations_per_chunk * config.num_envs
    for chunk in range(start_chunk, config.num_chunks):
        chunk_start = time.perf_counter()
        state, metrics = run_chunk(state)
        metrics = jax.device_get(metrics)
        chunk_s = time.perf_counter() - chunk_start
        iterations = (chunk + 1) * config.iterations_per_chunk
        env_steps = iterations * config.num_envs
        _check_finite(metrics, env_steps, learned=int(metrics["updates"]) > (history[-1]["updates"] if history else 0))
        record: dict[str, Any] = {
            "chunk": chunk,
            "env_steps": env_steps,
            "updates": int(metrics["updates"]),
            "sps": steps_per_chunk * config.num_seeds / chunk_s,
        }
        if config.eval_episodes > 0:
            keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(eval_base, 1_000_003 + chunk)
            returns = np.asarray(program.evaluate(state.agent, keys), np.float64)
            record["eval_return"] = _scalar_or_list(returns.mean(-1))
            record["eval_return_std"] = _scalar_or_list(returns.std(-1))
        for name in ("train_return", "alpha", "critic_loss", "actor_loss", "alpha_loss", "q", "target_q", "entropy"):
            record[name] = _scalar_or_list(metrics[name])  # NaN: no episode ended / no update yet
        record["wall_s"] = wall_before + time.perf_counter() - start
        history.append(record)
        if verbose:
            print(_format_record(record), flush=True)
        if callback is not None:
            callback(state, record)
    return TrainResult(
        config=config,
        params=agent_params(state.agent, config),
        history=history,
        state=state,
        program=program,
        compile_s=compile_s,
    )


def _check_finite(metrics: dict[str, np.ndarray], env_steps: int, learned: bool) -> None:
    for name in ("critic_loss", "actor_loss", "alpha_loss", "q", "alpha") if learned else ("alpha",):
        bad = ~np.isfinite(np.asarray(metrics[name]))
        if bad.any():
            raise TrainingDiverged(
                f"{name} became non-finite by env step {env_steps} (agent(s) {np.flatnonzero(bad).tolist()}); "
                "training stopped at the end of the chunk"
            )
    if not np.all(metrics["params_finite"]):
        raise TrainingDiverged(f"a parameter became non-finite by env step {env_steps}; training stopped")


def _format_record(record: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    keys = ("env_steps", "sps", "eval_return", "train_return", "alpha", "critic_loss", "actor_loss")
    return "  ".join(f"{k}={fmt(record[k])}" for k in keys if k in record)
