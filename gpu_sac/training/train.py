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
learning (a `lax.cond` on the buffer's size), so the env step is compiled once for training, not
twice (an MJX env takes tens of seconds to compile on a CPU).

`build` assembles the program from its parts, each made by its own maker: `make_init`,
`make_collect` (act, step, n-step window, insert), `make_learn` (sample, U fused updates, priority
refresh) and `make_run_chunk` (the scan and the chunk's summary). The networks (`SACNetworks`), the
replay variant (`replay.Replay`) and the env (`envs.make_env`) come in as records, so none of the
makers knows a network type, a buffer layout or an env family.

Everything per agent carries a leading seed axis S (num_seeds): `jax.vmap` over agents trains S
independent agents in one program. The envs of all agents are stepped as one flat batch of
S · num_envs (one env kernel, not S), and agent s uses PRNG key `PRNGKey(seed + s)` for all of
its randomness, so agent s follows the same run as a single-agent run with seed + s.

With num_devices > 1 the makers build one device's share of the run (the counts of `mesh.Layout`,
and its collectives where the envs of an agent are split over devices), and `mesh.distribute` runs
it over the device mesh with `jax.shard_map`; see gpu_sac/training/mesh.py for the layout of the state.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gpu_sac import envs, replay
from gpu_sac.agent import normalizer
from gpu_sac.agent.learner import AgentState, current_alpha, init_agent, make_update, temperature
from gpu_sac.agent.networks import SACNetworks, make_networks
from gpu_sac.agent.policy import PolicyParams, make_act
from gpu_sac.config import SACConfig
from gpu_sac.replay import nstep
from gpu_sac.training import memory, mesh, metrics, rollout


class TrainingDiverged(RuntimeError):
    """A loss or parameter became non-finite; the message names the metric and the env step."""


@struct.dataclass
class TrainState:
    """The whole run. agent, buffer, nstep and key carry a leading seed axis S; env is flat (S·N)."""

    agent: AgentState
    buffer: Any  # the replay record's buffer pytree (replay.Replay.init)
    env: rollout.EnvCarry
    nstep: nstep.NStepWindow | None  # None when n_step == 1
    key: jax.Array  # (S, 2) uint32: each agent's PRNG key
    iteration: jax.Array  # () int32: vectorised env steps taken (config validation bounds it)
    updates: jax.Array  # () int32: gradient updates taken per agent (config validation bounds it)


class Program(NamedTuple):
    """The jitted stages of one run, built once for a config and an env."""

    config: SACConfig
    env: Any
    nets: SACNetworks
    replay: replay.Replay
    obs_dim: int
    act_dim: int
    init: Callable  # (seed_keys (S, 2)) -> TrainState
    run_chunk: Callable  # (TrainState) -> (TrainState, metrics {name: (S,)}), donated
    evaluate: Callable  # (AgentState, keys (S, 2)) -> (returns, success) each (S, eval_episodes)
    act: Callable  # (PolicyParams, obs, key=None, deterministic=True) -> action
    layout: mesh.Layout  # one device's share of the run
    mesh: jax.sharding.Mesh | None = None  # None: one device
    specs: TrainState | None = None  # the state's PartitionSpecs on the mesh (mesh.state_specs)


def seed_keys(config: SACConfig) -> np.ndarray:
    """(S, 2): PRNGKey(seed + s) for agent s (on the host: every process of a run makes the same)."""
    return np.stack([np.asarray(jax.random.PRNGKey(config.seed + s)) for s in range(config.num_seeds)])


def build(config: SACConfig, env: Any = None, *, mesh_path: bool = False) -> Program:
    """Make the env (unless given) and the run's jitted stages: plain jit on one device, the
    shard_map program of `gpu_sac.training.mesh` on num_devices > 1 (or on one, with mesh_path: benchmarks
    compare the two paths)."""
    env = envs.make_env(config) if env is None else env
    obs_dim, act_dim = envs.check_env(env)
    # A flattened dict-observation env (envs.dict_obs) says which columns the actor and critics read.
    nets = make_networks(config, obs_dim, act_dim, getattr(env, "obs_layout", None))
    lay = mesh.layout(config)
    buffer = replay.make_replay(config, obs_dim, act_dim, capacity=lay.capacity, max_over_rings=lay.max,
                                goal=envs.goal.goal_spec(env), envs=lay.envs)
    init = make_init(config, env, nets, buffer, lay)
    collect, learn = make_collect(config, env, nets, buffer, lay), make_learn(config, nets, buffer, lay)
    run_chunk = make_run_chunk(config, collect, learn, lay)
    device_mesh = specs = None
    if config.num_devices == 1 and not mesh_path:
        init, run_chunk = jax.jit(init), jax.jit(run_chunk, donate_argnums=0)
    else:
        device_mesh, specs = mesh.make_mesh(config.num_devices), TrainState(**mesh.state_specs(lay))
        init, run_chunk = mesh.distribute(lay, device_mesh, init, run_chunk, specs)

    def deterministic_action(agent: AgentState, obs: jax.Array) -> jax.Array:
        return nets.mode(agent.actor_params, normalizer.normalize(agent.obs_stats, obs))

    evaluate = rollout.make_evaluate(env, config.episode_length, max(config.eval_episodes, 1), deterministic_action)
    return Program(
        config=config,
        env=env,
        nets=nets,
        replay=buffer,
        obs_dim=obs_dim,
        act_dim=act_dim,
        init=init,
        run_chunk=run_chunk,
        evaluate=jax.jit(evaluate),
        act=make_act(nets),
        layout=lay,
        mesh=device_mesh,
        specs=specs,
    )


def over_agents(fn: Callable, num_seeds: int, in_axes: Any = 0) -> Callable:
    """fn mapped over the leading seed axis: jax.vmap for several agents; for one agent, fn on it
    directly (axis dropped, then restored). A vmap over an axis of size 1 is not free on XLA:CPU:
    it compiles LayerNorm's parameter-gradient reductions into slow fusions (~2.6 ms per update
    at (256, 256)), which costs ~15 % of halfcheetah's steps/s at 16 envs."""
    if num_seeds > 1:
        return jax.vmap(fn, in_axes=in_axes)

    def single(*args):
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        args = [a if ax is None else jax.tree.map(lambda x: x[0], a) for a, ax in zip(args, axes, strict=True)]
        return jax.tree.map(lambda x: x[None], fn(*args))

    return single


def make_init(config: SACConfig, env: Any, nets: SACNetworks, buffer: replay.Replay,
              lay: mesh.Layout | None = None) -> Callable:
    """init(keys (S, 2)) -> TrainState: fresh agents, empty buffers, reset envs (one device's share)."""
    lay = mesh.layout(config) if lay is None else lay
    S, N = lay.seeds, lay.envs

    def init(keys: jax.Array) -> TrainState:
        def one(key):
            agent_key, env_key, key = jax.random.split(key, 3)
            window = nstep.init(N, config.n_step, nets.obs_dim, nets.act_dim) if config.n_step > 1 else None
            env_keys = lay.block(jax.random.split(env_key, config.num_envs))  # this device's envs' keys
            return init_agent(config, nets, agent_key), buffer.init(), window, env_keys, key

        agent, buffers, window, env_keys, keys = jax.vmap(one)(keys)
        env_carry = rollout.reset(env, env_keys.reshape(S * N, -1))
        zero = jnp.zeros((), jnp.int32)
        return TrainState(agent, buffers, env_carry, window, keys, iteration=zero, updates=zero)

    return init


def make_collect(config: SACConfig, env: Any, nets: SACNetworks, buffer: replay.Replay,
                 lay: mesh.Layout | None = None) -> Callable:
    """collect(ts) -> (ts, learn_key (S, 2), episodes {name: (S,)}): one vectorised env step for all
    agents (uniform random actions during start_steps, then the stochastic policy); its transitions
    go through the n-step window (n > 1) into the replay buffers. Data parallel: this device's envs;
    random actions and reset keys are drawn for all of an agent's envs and cut to this device's."""
    lay = mesh.layout(config) if lay is None else lay
    S, N, obs_dim, act_dim = lay.seeds, lay.envs, nets.obs_dim, nets.act_dim
    random_iterations = -(-config.start_steps // config.num_envs)  # compared with the counter: no int32 product
    env_step = rollout.make_env_step(env, config.episode_length, config.env_group_size)
    insert = over_agents(buffer.insert, S)
    per_agent = lambda x: x.reshape(S, N, *x.shape[1:])  # noqa: E731

    def policy(agent, o, k):
        return nets.sample(agent.actor_params, normalizer.normalize(agent.obs_stats, o), lay.own_key(k))[0]

    def every_env(draw):  # per agent key -> this device's block of a draw for all num_envs envs
        return jax.vmap(lambda k: lay.block(draw(k)))

    policy = over_agents(policy, S)
    update_stats = over_agents(lambda stats, o: normalizer.update(stats, lay.gather(o, 0)), S)

    def collect(ts: TrainState):
        split = jax.vmap(lambda k: jax.random.split(k, 5))(ts.key)  # (S, 5, 2)
        key, act_key, random_key, reset_key, learn_key = (split[:, i] for i in range(5))
        obs = ts.env.state.obs.reshape(S, N, obs_dim)
        random_action = every_env(lambda k: jax.random.uniform(k, (config.num_envs, act_dim), minval=-1.0,
                                                               maxval=1.0))(random_key)
        action = jnp.where(ts.iteration < random_iterations, random_action, policy(ts.agent, obs, act_key))
        reset_keys = every_env(lambda k: jax.random.split(k, config.num_envs))(reset_key).reshape(S * N, -1)
        env_carry, out = env_step(ts.env, action.reshape(S * N, act_dim), reset_keys)
        terminated = per_agent(out.terminated)
        step = replay.Transition(obs=obs, action=action, reward=per_agent(out.reward) * config.reward_scale,
                                 next_obs=per_agent(out.next_obs),
                                 discount=config.gamma * (1.0 - terminated.astype(jnp.float32)))
        buffers, window = ts.buffer, ts.nstep
        ended = per_agent(out.terminated | out.truncated)
        if window is None:
            buffers = insert(buffers, step, ended)
        else:
            window, emitted, valid = over_agents(nstep.push, S, in_axes=(0, 0, 0, None, None))(
                window, step, ended, ts.iteration, config.gamma)
            # valid is the same for every agent (it depends on the step counter alone).
            buffers = jax.lax.cond(valid[0], lambda: insert(buffers, emitted), lambda: buffers)
        agent = ts.agent
        if config.normalize_observations:
            agent = agent.replace(obs_stats=update_stats(agent.obs_stats, obs))
        episodes = {"episodes": ended.sum(-1),  # this device's envs: summed over devices once per chunk
                    "train_return_sum": jnp.where(ended, per_agent(out.episode_return), 0.0).sum(-1)}
        return ts.replace(agent=agent, buffer=buffers, env=env_carry, nstep=window, key=key), learn_key, episodes

    return collect


def make_learn(config: SACConfig, nets: SACNetworks, buffer: replay.Replay, lay: mesh.Layout | None = None) -> Callable:
    """learn(agent, buffer, key, first_update) -> (agent, buffer, metrics {name: ()}) for one agent:
    grad_updates_per_step updates from one gather of U·B transitions. With prioritised replay all U
    batches are drawn with the priorities as they were before this step's updates, which then
    refresh the priorities of the rows they used. Data parallel: each device draws B/D rows from its
    own ring and the gradients are averaged over the devices (prioritised: see replay.prioritized's
    max_over_rings)."""
    lay = mesh.layout(config) if lay is None else lay
    U, B = config.grad_updates_per_step, lay.batch
    update = make_update(config, nets, mean=lay.mean)

    def learn(agent: AgentState, buffers: Any, key: jax.Array, first_update: jax.Array):
        sample_key, key = jax.random.split(lay.own_key(key))
        batches, index, weight = buffer.sample(buffers, sample_key, (U, B))

        def body(carry, x):
            agent, buffers = carry
            batch, idx, w, k, i = x
            agent, learner_metrics, td_abs = update(agent, batch, w, k, first_update + i)
            return (agent, buffer.update_priority(buffers, idx, td_abs)), learner_metrics

        xs = (batches, index, weight, jax.random.split(key, U), jnp.arange(U, dtype=jnp.int32))
        (agent, buffers), learner_metrics = jax.lax.scan(body, (agent, buffers), xs)
        return agent, buffers, jax.tree.map(jnp.mean, learner_metrics)

    return learn


def make_run_chunk(config: SACConfig, collect: Callable, learn: Callable, lay: mesh.Layout | None = None) -> Callable:
    """run_chunk(ts) -> (ts, summary {name: (S,) or ()}): iterations_per_chunk vectorised steps in
    one scan, each a collect, then (once min_replay_size transitions are in) a learn."""
    lay = mesh.layout(config) if lay is None else lay
    S, U = lay.seeds, config.grad_updates_per_step
    rings = lay.devices if lay.data_parallel else 1  # an agent's transitions are spread over this many rings
    learn_all = over_agents(learn, S, in_axes=(0, 0, 0, None))

    def iteration(ts: TrainState, _):
        ts, learn_key, episodes = collect(ts)

        def learning_step(ts: TrainState):
            agent, buffers, learner_metrics = learn_all(ts.agent, ts.buffer, learn_key, ts.updates)
            return ts.replace(agent=agent, buffer=buffers, updates=ts.updates + U), learner_metrics

        def skip(ts: TrainState):  # buffer below min_replay_size: collect only
            return ts, {name: jnp.zeros(S) for name in metrics.LEARNER}

        # Every agent's buffer holds the same number of transitions, so the predicate is one scalar
        # and this stays a real branch rather than a select under vmap. It reads the buffer, not the
        # step counter, so a run resumed without its replay buffer refills it before learning.
        learning = ts.buffer.size[0] * rings >= config.min_replay_size
        ts, learner_metrics = jax.lax.cond(learning, learning_step, skip, ts)
        return ts.replace(iteration=ts.iteration + 1), dict(learner_metrics, learning=learning, **episodes)

    def run_chunk(ts: TrainState):
        ts, out = jax.lax.scan(iteration, ts, None, length=config.iterations_per_chunk)
        learning = out.pop("learning").astype(jnp.float32)[:, None]  # (K, 1)
        episodes, returns = lay.sum((out.pop("episodes").sum(0), out.pop("train_return_sum").sum(0)))
        # Means over the iterations that learned (NaN if none did: the buffer was still filling).
        summary = jax.tree.map(lambda x: (x * learning).sum(0) / learning.sum(), out)
        summary["alpha"] = jax.vmap(lambda la: current_alpha(temperature(config), la))(ts.agent.log_alpha)
        summary["train_return"] = jnp.where(episodes > 0, returns / jnp.maximum(episodes, 1), jnp.nan)
        summary["train_episodes"] = episodes
        finite = [jnp.all(jnp.isfinite(leaf), axis=tuple(range(1, leaf.ndim))) for leaf in jax.tree.leaves(
            (ts.agent.actor_params, ts.agent.critic_params, ts.agent.log_alpha))]
        summary["params_finite"] = jnp.stack(finite).all(0)
        summary["updates"] = ts.updates
        return ts, summary

    return run_chunk


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
    init_from: Any = None,
) -> TrainResult:
    """Train SAC as configured; return parameters, per-chunk history and the final state.

    env: any Brax-style env object (default: `envs.make_env(config)`). program: one already built
    by `build(config, env)` (run_experiment builds it once and passes it). callback(state, record)
    runs after each chunk (checkpoints, logs, progress bars). state/history: continue a run from a
    TrainState taken after a chunk (resume), skipping init. init_from: a `gpu_sac.store.transfer.InitFrom`, whose
    parts (another run's parameters) replace the fresh ones of a new run (not of a resumed one).

    Each history record holds the figures of `gpu_sac.training.metrics.METRICS` (env_steps and updates per
    agent and cumulative, sps, eval_return, train_return, alpha, the losses, ...). With
    num_seeds > 1, each per-agent figure is a list, one per agent; NaN where no episode ended or no
    update was taken yet.
    """
    start = time.perf_counter()
    program = _checked_program(config, env, program)
    history = list(history or [])
    fresh = state is None
    # Compile the chunk (and the evaluation) ahead of time, so that compile time is measured apart
    # from steps/s; on one device, concurrently with init (see compile_stages). Another run's
    # parameters (init_from) replace the fresh ones in place: same shapes, same programs.
    if program.mesh is None:
        state, run_chunk, evaluate, compile_s = compile_stages(program, state)
        state = _transferred(state, program, init_from) if fresh else state
    else:
        state = _transferred(program.init(seed_keys(config)), program, init_from) if fresh else state
        compile_start = time.perf_counter()
        run_chunk, evaluate = program.run_chunk.lower(state).compile(), program.evaluate
        compile_s = time.perf_counter() - compile_start
    wall_before = history[-1]["wall_s"] if history else 0.0
    for chunk in range(len(history), config.num_chunks):
        chunk_start = time.perf_counter()
        state, summary = run_chunk(state)
        summary = mesh.to_host(summary)
        record = _record(program, state, summary, chunk, time.perf_counter() - chunk_start, history, evaluate)
        record["wall_s"] = wall_before + time.perf_counter() - start
        history.append(record)
        if verbose:
            print(_format_record(record), flush=True)
        if callback is not None:
            callback(state, record)
    params = agent_params(state.agent, config)
    return TrainResult(config, params, history, state=state, program=program, compile_s=compile_s)


def _transferred(state: TrainState, program: Program, init_from: Any) -> TrainState:
    # init_from is a `gpu_sac.store.transfer.InitFrom` (or anything with its `apply`): the store layer,
    # above this one, reads the source checkpoint, so the program never imports it.
    return state if init_from is None else init_from.apply(state, program)


def compile_stages(program: Program, state: TrainState | None = None, concurrent: bool = True
                   ) -> tuple[TrainState, Callable, Callable, float]:
    """(state, run_chunk, evaluate, compile_s): init's state (unless a state is given) and the
    compiled chunk and evaluation, on one device. compile_s: the chunk's own compile time.

    The three programs each hold the env's step or reset; an MJX locomotion env makes each take a
    minute or more to compile on a GPU host. XLA compiles outside Python's lock, so with `concurrent`
    the chunk and the evaluation compile in two threads, from the state's shapes alone, while this
    thread compiles and runs init; without, one after the other (`python -m experiments.startup`
    measures both: on a 2-core CPU concurrent is 1.18x faster for halfcheetah, 1.09x for pendulum)."""
    config = program.config
    keys = seed_keys(config)
    if not concurrent and state is None:
        state = program.init(keys)
    shapes = jax.eval_shape(program.init, keys) if state is None else state  # what the compiles need

    def compile_chunk() -> tuple[Callable, float]:
        t0 = time.perf_counter()
        return program.run_chunk.lower(shapes).compile(), time.perf_counter() - t0

    def compile_evaluate() -> Callable:
        return program.evaluate.lower(shapes.agent, keys).compile() if config.eval_episodes > 0 else program.evaluate

    if not concurrent:
        (run_chunk, compile_s), evaluate = compile_chunk(), compile_evaluate()
        return state, run_chunk, evaluate, compile_s
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="gpu_sac-compile") as pool:
        chunk, evaluate = pool.submit(compile_chunk), pool.submit(compile_evaluate)
        if state is None:
            state = program.init(keys)
        (run_chunk, compile_s), evaluate = chunk.result(), evaluate.result()
    return state, run_chunk, evaluate, compile_s


def _checked_program(config: SACConfig, env: Any, program: Program | None) -> Program:
    """The run's program (built unless given), its state checked to fit in memory; a warning when
    total_steps is not a whole number of chunks."""
    if program is None:
        program = build(config, env)
    elif program.config != config:
        raise ValueError("train(config, program=...): the program was built for another config")
    memory.check_fits(config, program.obs_dim, program.act_dim, nets=program.nets, env=program.env)
    if config.trained_steps != config.total_steps:
        warnings.warn(
            f"total_steps={config.total_steps} is not a whole number of chunks "
            f"({config.iterations_per_chunk} vectorised steps x num_envs={config.num_envs}): "
            f"training {config.trained_steps} env steps",
            stacklevel=3,
        )
    return program


def _record(program: Program, state: TrainState, summary: dict[str, np.ndarray], chunk: int, chunk_s: float,
            history: list[dict[str, Any]], evaluate: Callable) -> dict[str, Any]:
    """The history record of a chunk (evaluation included, by `evaluate`: program.evaluate or its
    compiled form); TrainingDiverged if a checked figure or a parameter is non-finite."""
    config = program.config
    env_steps = (chunk + 1) * config.iterations_per_chunk * config.num_envs
    updates = int(summary["updates"])
    _check_finite(summary, env_steps, learned=updates > (history[-1]["updates"] if history else 0))
    record: dict[str, Any] = {
        "chunk": chunk,
        "env_steps": env_steps,
        "updates": updates,
        "sps": config.iterations_per_chunk * config.num_envs * config.num_seeds / chunk_s,
    }
    if config.eval_episodes > 0:
        keys = np.asarray(jax.vmap(jax.random.fold_in, in_axes=(0, None))(seed_keys(config), 1_000_003 + chunk))
        returns, success = (np.asarray(x, np.float64) for x in mesh.to_host(evaluate(state.agent, keys)))
        record["eval_return"] = _scalar_or_list(returns.mean(-1))
        record["eval_return_std"] = _scalar_or_list(returns.std(-1))
        if not np.isnan(success).any():  # goal envs: the fraction of episodes that end at their goal
            record["eval_success"] = _scalar_or_list(success.mean(-1))
    for name in ("train_return", *metrics.LEARNER):
        record[name] = _scalar_or_list(summary[name])  # NaN: no episode ended / no update yet
    return record


def _check_finite(summary: dict[str, np.ndarray], env_steps: int, learned: bool) -> None:
    checked = [m.name for m in metrics.METRICS if m.checked and (learned or m.name == "alpha")]
    for name in checked:
        bad = ~np.isfinite(np.asarray(summary[name]))
        if bad.any():
            raise TrainingDiverged(
                f"{name} became non-finite by env step {env_steps} (agent(s) {np.flatnonzero(bad).tolist()}); "
                "training stopped at the end of the chunk"
            )
    if not np.all(summary["params_finite"]):
        raise TrainingDiverged(f"a parameter became non-finite by env step {env_steps}; training stopped")


def _format_record(record: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    keys = ("env_steps", "sps", "eval_return", "eval_success", "train_return", "alpha", "critic_loss", "actor_loss")
    return "  ".join(f"{k}={fmt(record[k])}" for k in keys if k in record)
