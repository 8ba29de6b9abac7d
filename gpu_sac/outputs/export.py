"""The trained policy alone, in one file, and `load_policy` to act with it in a fresh process.

The file (`policy.msgpack`, flax's msgpack) holds the actor's parameters, the observation
normaliser's statistics, the action bounds and what is needed to rebuild the actor network (obs
and action sizes, hidden sizes, log σ clamps). No critics, optimiser states or replay buffer: a few
hundred kB for the default networks. With num_seeds > 1 every array has a leading agent axis and
`load_policy(path, agent=i)` picks one.

    act = gpu_sac.load_policy("runs/halfcheetah_s0_.../policy")
    action = jax.jit(act)(obs)                                    # deterministic: tanh(mean)
    action = act(obs, key=jax.random.PRNGKey(0), deterministic=False)
"""

from __future__ import annotations

import json
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gpu_sac.store.run_dir import POLICY_DIR, write_atomic

POLICY_FILE = "policy.msgpack"
FORMAT = "gpu_sac.policy/1"  # a file format name, kept from before the subpackages


def export_policy(
    path: str | os.PathLike,
    config: Any,
    agent: Any,
    low: Any,
    high: Any,
    obs_dim: int,
    act_dim: int,
    extra: dict[str, Any] | None = None,
    actor_obs: tuple[int, int] | None = None,
) -> Path:
    """Write the policy of `agent` (an AgentState with a leading agent axis) to path/policy.msgpack.

    path: a directory (created) or a file name ending in .msgpack. low, high: (act_dim,) action
    bounds of the env. extra: JSON-able metadata kept beside (env steps, run dir, ...). actor_obs: the
    (start, stop) columns of the observation the actor reads (an asymmetric actor-critic); None: all.
    """
    from flax import serialization

    from gpu_sac.agent.networks import ACTOR_FIELDS

    path = Path(path)
    file = path if path.suffix == ".msgpack" else path / POLICY_FILE
    file.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "env": config.env,
        "obs_dim": int(obs_dim),
        "act_dim": int(act_dim),
        "num_agents": int(config.num_seeds),
        "seed": int(config.seed),
        **{name: value for name, value in config.to_dict().items() if name in ACTOR_FIELDS},
        "actor_obs": None if actor_obs is None else list(actor_obs),
        "normalize_observations": agent.obs_stats is not None,
        "episode_length": int(config.episode_length),
        **(extra or {}),
    }
    stats = agent.obs_stats
    payload = {
        "meta": json.dumps(meta),
        "actor_params": jax.tree.map(np.asarray, jax.device_get(agent.actor_params)),
        "obs_stats": None if stats is None else {
            "mean": np.asarray(stats.mean), "var": np.asarray(stats.var), "count": np.asarray(stats.count)
        },
        "low": np.asarray(low, np.float32),
        "high": np.asarray(high, np.float32),
    }
    write_atomic(file, serialization.msgpack_serialize(payload))
    write_atomic(file.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")  # for people; not read back
    return file


def policy_file(path: str | os.PathLike) -> Path:
    """policy.msgpack from a run directory, a policy directory or the file itself."""
    path = Path(path)
    for candidate in (path, path / POLICY_FILE, path / POLICY_DIR / POLICY_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no exported policy at {path} (looked for {path / POLICY_FILE} and {path / POLICY_DIR / POLICY_FILE})"
    )


def load_policy(path: str | os.PathLike, agent: int = 0) -> Callable:
    """act(obs, key=None, deterministic=True) -> action in the env's bounds, from the exported file.

    path: a run directory, its policy/ directory, or a policy.msgpack. agent: which agent of a
    multi-seed run. obs: (obs_dim,) or (batch, obs_dim). The function is jittable and carries the
    file's metadata as `act.meta` and the parameters as `act.params` (a PolicyParams).
    """
    from flax import serialization

    from gpu_sac.agent import normalizer
    from gpu_sac.agent.networks import make_networks
    from gpu_sac.agent.policy import PolicyParams, make_act

    file = policy_file(path)
    payload = serialization.msgpack_restore(file.read_bytes())
    meta = json.loads(payload["meta"])
    if meta.get("format") != FORMAT:
        raise ValueError(f"{file} is not a gpu_sac policy (format {meta.get('format')!r}, expected {FORMAT!r})")
    n = meta["num_agents"]
    if not 0 <= agent < n:
        raise ValueError(f"agent={agent} is invalid: {file} holds {n} agent(s), so 0 <= agent < {n}")

    def pick(x):
        return jnp.asarray(x[agent])

    stats = payload["obs_stats"]
    params = PolicyParams(
        actor_params=jax.tree.map(pick, payload["actor_params"]),
        obs_stats=None if stats is None else normalizer.RunningStats(pick(stats["mean"]), pick(stats["var"]),
                                                                      pick(stats["count"])),
        low=jnp.asarray(payload["low"]),
        high=jnp.asarray(payload["high"]),
    )
    layout = None if meta.get("actor_obs") is None else types.SimpleNamespace(actor=meta["actor_obs"], critic=None)
    base = make_act(make_networks(_actor_fields(meta), meta["obs_dim"], meta["act_dim"], layout))

    def act(obs: jax.Array, key: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        return base(params, obs, key=key, deterministic=deterministic)

    act.meta = meta
    act.params = params
    act.agent = agent
    return act


def _actor_fields(meta: dict[str, Any]) -> Any:
    """The network fields of the exported run's config: the actor's from the file (the seed's
    defaults for those a file from an older gpu_sac lacks); the critics' are not exported, so the
    seed's defaults do (make_networks builds but never runs them here)."""
    from gpu_sac.agent.networks import ACTOR_FIELDS, NETWORK_FIELDS
    from gpu_sac.config import SEED_DEFAULTS, WIDTH_FIELDS

    fields = {name: meta.get(name, SEED_DEFAULTS[name]) if name in ACTOR_FIELDS else SEED_DEFAULTS[name]
              for name in NETWORK_FIELDS}
    for name in WIDTH_FIELDS:
        if isinstance(fields[name], list):
            fields[name] = tuple(fields[name])
    return types.SimpleNamespace(**fields)
