"""Brax's own SAC (`brax.training.agents.sac.train`) on current JAX, and a runner that times it
the way the benchmark times gpu_sac.

The stand-in
------------
Brax 0.14.2 replicates its training state with `jax.device_put_replicated(x, devices)`, which
JAX deprecated in 0.8.1 and removed in 0.10. Its documented drop-in replacement
(docs.jax.dev/en/latest/migrate_pmap.html) is one `jax.device_put` of the value stacked along a new
leading axis, sharded over a one-axis mesh of those devices: each device holds one slice, which is
what `jax.pmap` (since JAX 0.8 built on `jit` + `shard_map`) expects for a mapped argument.
`device_put_replicated` below is exactly that; `patched_jax()` installs it as
`jax.device_put_replicated` for the duration of a `with` block and removes it afterwards, so
nothing else in the process sees it. We do not pin an old JAX.

How Brax SAC is timed
---------------------
`sac.train` runs `num_evals - 1` training epochs; each is one pmapped `lax.scan` of
`num_training_steps_per_epoch` training steps (one vectorised env step + `grad_updates_per_step`
updates each), and Brax times each epoch itself, blocking on its metrics, and passes
`training/sps` (env steps of that epoch / its seconds) and `training/walltime` to `progress_fn`.
The epoch's timer covers only `training_epoch`: the prefill of the replay buffer and the evaluation
after each epoch run outside it. The first epoch also compiles `training_epoch`, so:

- steps/s: Brax's own `training/sps` of epochs 2, 3, ... (compiled, evaluation excluded);
- compile time: the first epoch's seconds minus the median seconds of the later epochs. Brax
  compiles its prefill (the env step again) as a separate program before that; `prefill_s`
  reports the prefill's compile and run time apart.

Evaluation is excluded from every figure. To keep it from costing minutes of wall time on a CPU
(Brax evaluates 128 envs for a whole episode after each epoch, and compiles that unroll), the
runner hands Brax a stand-in `eval_env` by default: an env with the same observation and action
sizes whose step does no physics. Training, the only thing timed, is untouched.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from experiments.harness import live_bytes


def device_put_replicated(x: Any, devices: Sequence[jax.Device]) -> Any:
    """Stand-in for the removed `jax.device_put_replicated`: x stacked along a new leading axis of
    size len(devices), slice i on devices[i] (one `jax.device_put` with a NamedSharding)."""
    devices = list(devices)
    if not devices:
        raise ValueError("device_put_replicated needs a non-empty sequence of devices")
    sharding = NamedSharding(Mesh(np.array(devices), ("_replica",)), PartitionSpec("_replica"))

    def replicate(leaf):
        leaf = jnp.asarray(leaf)
        return jax.device_put(jnp.broadcast_to(leaf[None], (len(devices), *leaf.shape)), sharding)

    return jax.tree.map(replicate, x)


@contextlib.contextmanager
def patched_jax() -> Iterator[None]:
    """Install `device_put_replicated` as `jax.device_put_replicated` inside the block only."""
    had = "device_put_replicated" in vars(jax)
    old = vars(jax).get("device_put_replicated")
    jax.device_put_replicated = device_put_replicated
    try:
        yield
    finally:
        if had:
            jax.device_put_replicated = old
        else:
            del jax.device_put_replicated


def _is_playground(env: Any) -> bool:
    try:
        from mujoco_playground import MjxEnv
    except ImportError:  # pragma: no cover - playground is a dependency
        return False
    return isinstance(env, MjxEnv)


def stub_eval_env(env: Any) -> Any:
    """An env with env's observation and action sizes and no physics, of the same family (a Brax
    env, or a MuJoCo Playground env for Playground's wrappers): Brax's evaluator runs it instead of
    the real env, so that evaluation (excluded from the figures) costs no wall time."""
    from brax.envs.base import Env
    from brax.envs.base import State as BraxState

    obs_size, act_size = int(env.observation_size), int(env.action_size)
    if _is_playground(env):
        from mujoco_playground._src.mjx_env import State as PlaygroundState

        def make_state(obs, reward, done):
            return PlaygroundState(data=jnp.zeros(()), obs=obs, reward=reward, done=done, metrics={}, info={})
    else:

        def make_state(obs, reward, done):
            return BraxState(pipeline_state=jnp.zeros(()), obs=obs, reward=reward, done=done)

    class StubEnv(Env):
        @property
        def observation_size(self) -> int:
            return obs_size

        @property
        def action_size(self) -> int:
            return act_size

        @property
        def backend(self) -> str:
            return "stub"

        def reset(self, rng: jax.Array):
            zero = jnp.zeros(())
            return make_state(jnp.zeros(obs_size), zero, zero)

        def step(self, state, action: jax.Array):
            return state.replace(reward=jnp.sum(action) * 0.0)

    return StubEnv()


def _wrap_fn(env: Any):
    """Brax's training wrappers for `env` (EpisodeWrapper + VmapWrapper + AutoResetWrapper); for a
    MuJoCo Playground env, Playground's own wrapper for Brax training."""
    from brax import envs as brax_envs

    if _is_playground(env):
        from mujoco_playground import wrapper

        return wrapper.wrap_for_brax_training
    # Brax envs, and pure-JAX envs with a Brax-style State (pendulum): Brax's own wrappers.
    return brax_envs.training.wrap


def brax_kwargs(config: Any) -> dict[str, Any]:
    """The keyword arguments of `brax.training.agents.sac.train` equal to an SACConfig's.

    Brax has one learning rate for actor and critics (the actor's is used; the benchmark sets both
    equal) and a fixed 3e-4 for α; no start_steps (it prefills with its initial policy), no
    n-step, no PER, no separate LayerNorm of the actor; critic LayerNorm maps to
    q_network_layer_norm.
    """
    from brax.training.agents.sac import networks as sac_networks

    return dict(
        episode_length=config.episode_length,
        action_repeat=1,
        num_envs=config.num_envs,
        learning_rate=config.actor_lr,
        discounting=config.gamma,
        batch_size=config.batch_size,
        normalize_observations=config.normalize_observations,
        reward_scaling=config.reward_scale,
        tau=config.tau,
        min_replay_size=config.min_replay_size,
        max_replay_size=config.buffer_size,
        grad_updates_per_step=config.grad_updates_per_step,
        network_factory=functools.partial(
            sac_networks.make_sac_networks,
            hidden_layer_sizes=tuple(config.hidden_sizes),
            q_network_layer_norm=config.critic_layer_norm,
        ),
    )


def brax_bytes_per_transition(obs_dim: int, act_dim: int) -> int:
    """Bytes of one transition in Brax SAC's replay buffer: its UniformSamplingQueue stores the
    flattened Transition (observation, action, reward, discount, next_observation and the
    `truncation` extra) as float32."""
    return 4 * (2 * obs_dim + act_dim + 3)


def train(config: Any, env: Any, *, num_timesteps: int, num_evals: int, num_eval_envs: int, seed: int,
          eval_env: Any, progress_fn: Callable[[int, dict[str, Any]], None]) -> Any:
    """`brax.training.agents.sac.train` on `env` at `config`'s settings (`brax_kwargs`), with Brax's
    training wrappers for env's family and deterministic evaluation on eval_env; progress_fn(step,
    metrics) after each evaluation (the first before training). Returns what Brax returns."""
    from brax.training.agents.sac import train as sac_train

    with patched_jax():
        return sac_train.train(
            environment=env, num_timesteps=num_timesteps, wrap_env_fn=_wrap_fn(env), num_evals=num_evals,
            num_eval_envs=num_eval_envs, seed=seed, deterministic_eval=True, progress_fn=progress_fn,
            eval_env=eval_env, **brax_kwargs(config),
        )


def run_brax_sac(
    config: Any,
    env: Any,
    *,
    epochs: int,
    iterations_per_epoch: int,
    seed: int = 0,
    real_eval: bool = False,
    num_eval_envs: int = 1,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train Brax SAC at `config`'s settings on `env` for `epochs` timed epochs.

    Each epoch is `iterations_per_epoch` training steps (num_envs env steps and
    grad_updates_per_step updates each), after a prefill of min_replay_size transitions. Returns
    per-epoch seconds and steps/s, the compile estimate, and the wall time of the whole call.
    `epochs` must be >= 2: the first epoch compiles and is not counted in steps/s.
    on_epoch(record) runs after each epoch (and its evaluation), before the next epoch's clock
    starts; record: env_steps, sps, epoch_s, walltime, live_bytes (all live device arrays).
    """
    if epochs < 2:
        raise ValueError("epochs must be >= 2 (the first one compiles)")
    n = config.num_envs
    prefill_steps = -(-config.min_replay_size // n) * n
    num_timesteps = prefill_steps + epochs * iterations_per_epoch * n
    records: list[dict[str, Any]] = []

    def progress(step: int, metrics: dict[str, Any]) -> None:
        if "training/sps" not in metrics:  # the evaluation before training
            return
        sps = float(metrics["training/sps"])
        record = {
            "env_steps": int(step),
            "sps": sps,
            "epoch_s": iterations_per_epoch * n / sps,
            "walltime": float(metrics["training/walltime"]),
            "live_bytes": live_bytes(),
        }
        records.append(record)
        if on_epoch is not None:
            on_epoch(record)

    start = time.perf_counter()
    train(
        config, env, num_timesteps=num_timesteps,
        num_evals=epochs + 1,  # one initial evaluation, then one after each epoch
        num_eval_envs=num_eval_envs, seed=seed, eval_env=env if real_eval else stub_eval_env(env),
        progress_fn=progress,
    )
    wall_s = time.perf_counter() - start
    epoch_s = [r["epoch_s"] for r in records]
    steady = epoch_s[1:]
    return {
        "epoch_s": epoch_s,
        "sps": [r["sps"] for r in records[1:]],
        "compile_s": max(0.0, epoch_s[0] - statistics.median(steady)),
        # Brax compiles its prefill separately; its clock starts before the prefill, so this is the
        # prefill's compile and run time (not in compile_s).
        "prefill_s": records[0]["walltime"] - epoch_s[0],
        "updates_per_epoch": iterations_per_epoch * config.grad_updates_per_step,
        "live_bytes": max(r["live_bytes"] for r in records),
        "wall_s": wall_s,
        "num_timesteps": num_timesteps,
        "env_steps": [r["env_steps"] for r in records],
    }
