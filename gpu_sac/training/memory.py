"""Check, before allocating, that the train state fits in the device's free memory.

A replay capacity that does not fit should fail with a message that names a capacity that does,
not with an allocator error minutes into compilation (or, on a GPU, by taking all its memory).
"""

from __future__ import annotations

import os
from typing import Any

import jax

from gpu_sac import replay
from gpu_sac.agent.learner import init_agent
from gpu_sac.agent.networks import make_networks
from gpu_sac.config import SACConfig
from gpu_sac.replay import compact, nstep
from gpu_sac.training.mesh import layout

HEADROOM = 0.8  # leave a fifth of free memory for XLA's temporaries, envs and batches


class MemoryBudgetError(RuntimeError):
    """The run's state does not fit in the device's free memory."""


# Each part of state_bytes, the field that sizes it (named when that part does not fit), and what it is.
PARTS = {
    "replay": ("buffer_size", "replay"),
    "agent": ("hidden_sizes", "networks, target networks and optimiser states"),
    "batches": ("batch_size", "sampled batches (batch_size x grad_updates_per_step per step)"),
    "nstep": ("n_step", "n-step window (n_step transitions per env)"),
    "envs": ("num_envs", "training envs' states"),
    "eval": ("eval_episodes", "evaluation envs' states (eval_episodes per agent)"),
}


def _nbytes(tree: Any) -> int:
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def env_state_bytes(env: Any, obs_dim: int) -> int:
    """Bytes of one env's state (shapes only); where the env is not given, its observation, reward and
    done (a lower bound: a physics env keeps much more)."""
    if env is not None:
        try:
            return _nbytes(jax.eval_shape(env.reset, jax.random.PRNGKey(0)))
        except Exception:  # noqa: BLE001 - an env whose reset cannot be traced alone: the lower bound
            pass
    return 4 * (obs_dim + 2)


def state_bytes(config: SACConfig, obs_dim: int, act_dim: int, nets: Any = None, env: Any = None) -> dict[str, int]:
    """Bytes of the device arrays of a run on one device (all of it with num_devices = 1), by part
    (PARTS): its agents' replay rings, agents (parameters, targets, optimiser moments), sampled
    batches, n-step windows, training envs and evaluation envs (shapes only, nothing allocated).
    nets: the run's SACNetworks (an actor that reads part of the observation has fewer weights);
    made from the dims when None. env: the run's env, whose state's size counts for the training and
    evaluation envs (a lower bound from obs_dim when None)."""
    per_transition = _per_transition(config, obs_dim, act_dim)
    nets = make_networks(config, obs_dim, act_dim) if nets is None else nets
    agent = jax.eval_shape(lambda key: init_agent(config, nets, key), jax.random.PRNGKey(0))
    share = layout(config)  # data parallel: every agent, a 1/D share of its ring, envs and batch
    window = 0
    if config.n_step > 1:
        window = _nbytes(jax.eval_shape(lambda: nstep.init(share.envs, config.n_step, obs_dim, act_dim)))
    per_env = env_state_bytes(env, obs_dim)
    return {
        "replay": share.seeds * share.capacity * per_transition,
        "agent": share.seeds * _nbytes(agent),
        # One gather of grad_updates_per_step batches per vectorised step.
        "batches": share.seeds * config.grad_updates_per_step * share.batch * per_transition,
        "nstep": share.seeds * window,
        "envs": share.seeds * share.envs * per_env,
        "eval": share.seeds * config.eval_episodes * per_env,
    }


def _per_transition(config: SACConfig, obs_dim: int, act_dim: int) -> int:
    """Bytes per stored transition of the config's replay: its row and whatever else it keeps per row
    (a sum-tree, an episode index); what each replay record reports as bytes_per_transition."""
    if config.replay_layout == "compact":
        return compact.bytes_per_transition(obs_dim, act_dim, config.episode_length)
    return replay.bytes_per_transition(obs_dim, act_dim, config.prioritized_replay, config.her != "off")


def free_device_bytes(device: jax.Device | None = None) -> int | None:
    """Free memory of the device: from XLA's allocator on a GPU, MemAvailable on the host CPU."""
    device = device or jax.local_devices()[0]  # this process's (a multi-process run sees others' too)
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def sharing_devices(config: SACConfig) -> int:
    """How many of the run's devices draw on one memory: the CPU devices of a process (forced host
    devices) share its RAM; each GPU has its own."""
    if config.num_devices == 1:
        return 1
    local = [d for d in jax.local_devices() if d.platform == "cpu"]
    return min(config.num_devices, len(local)) if local else 1


def check_fits(config: SACConfig, obs_dim: int, act_dim: int, free: int | None = None,
               nets: Any = None, env: Any = None) -> dict[str, int]:
    """Raise MemoryBudgetError if one device's share of the run's arrays (times the devices that share
    one memory) is over budget, naming the field of the largest part: a buffer_size that fits where
    it is the replay. Returns one device's share, by part."""
    need = state_bytes(config, obs_dim, act_dim, nets, env)
    free = free_device_bytes() if free is None else free
    if free is None:
        return need
    budget = int(free * HEADROOM)
    sharing = sharing_devices(config)
    total = sum(need.values()) * sharing
    gib = 2**30
    largest = max(need, key=need.get)
    if total > budget and largest != "replay":
        field, what = PARTS[largest]
        value = getattr(config, field)
        if largest == "agent":  # the widths that make the networks, and how many critics
            value = ", ".join(f"{n}={getattr(config, n)}" for n in
                              ("hidden_sizes", "actor_hidden_sizes", "critic_hidden_sizes", "n_critics")
                              if getattr(config, n) is not None)
        else:
            value = f"{field}={value}"
        where = "the device" if sharing == 1 else f"the {sharing} devices that share this memory"
        raise MemoryBudgetError(
            f"{value} needs {need[largest] * sharing / gib:.2f} GiB for the {what}, and the run "
            f"{total / gib:.2f} GiB in all on {where}, which has {free / gib:.2f} GiB free ({HEADROOM:.0%} usable): "
            f"lower {field}"
        )
    if total > budget:
        per_transition = _per_transition(config, obs_dim, act_dim)
        other = total - need["replay"] * sharing
        # buffer_size rows per agent are spread over num_devices rings (data parallel) or agents.
        fits = max(0, (budget - other) // (config.num_seeds * per_transition * sharing // config.num_devices))
        where = "the device" if sharing == 1 else f"the {sharing} devices that share this memory"
        raise MemoryBudgetError(
            f"buffer_size={config.buffer_size} needs {need['replay'] * sharing / gib:.2f} GiB of replay "
            f"({per_transition} bytes per transition x {config.num_seeds} seed(s)) and the state "
            f"{total / gib:.2f} GiB in all on {where}, which has {free / gib:.2f} GiB free "
            f"({HEADROOM:.0%} usable): use buffer_size <= {fits}"
        )
    return need
