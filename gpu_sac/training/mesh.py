"""One run over several devices: the layout of the work, the collectives, and the sharded program.

With num_devices = D > 1 the run is one SPMD program over a 1-D mesh of D devices (`jax.shard_map`
over the axis `AXIS`, inside one jit). The makers in `train` build the program that one device
runs, for the counts in `Layout`; `distribute` maps it over the mesh. shard_over picks what is split:

envs (data parallel, one agent per seed):
    device d steps envs d·N/D … (d+1)·N/D − 1 of each agent and keeps their transitions in its own
    ring of buffer_size/D rows (inserts stay local: no traffic per env step but the normaliser's).
    Each update draws batch_size/D rows from every device's ring (a batch stratified by device) and
    averages the gradients over the mesh (`pmean`), so every device applies the same update and the
    agent stays replicated. The observation statistics see every env's observation (`all_gather`,
    then the same update as on one device), the losses and episode figures are averaged or summed.
    With prioritised replay the rings share the largest priority and the batch's weight normaliser.
    The randomness of collection (random actions, reset keys) is drawn for all N envs from the
    agent's key and each device takes its block, so the transitions up to the first update are the
    ones a single device collects. From then on the runs differ in which rows each update draws.
seeds:
    device d trains agents d·S/D … (d+1)·S/D − 1, with their envs and buffers; no collectives.

Global layout of the TrainState (what checkpoints hold), S seeds, N envs per agent:
    agent, key, counters      envs: replicated;  seeds: split on the seed axis
    env (Brax state pytree)   envs: (S, N, ...) split on N;  seeds: (S·N, ...) split (agent-major)
    nstep window              envs: (S, N, n, ...) split on N;  seeds: split on S
    buffer leaves             envs: (S, D, ...) split on D (each device's ring as it is);  seeds: on S
so a state differs from the one-device layout only in the buffer (envs) and the env's (S, N) shape;
`to_single` / `from_single` convert, so a checkpoint written on D devices restores on D′.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gpu_sac.config import ConfigError, SACConfig

AXIS = "devices"


class Layout(NamedTuple):
    """The share of one device, and the whole run it is a share of: the one record of the config that
    everything below `layout` reads (the mesh program, checkpoint layouts, the memory check).

    seeds: agents on it; envs: envs per agent on it; batch: rows per agent drawn on it per update;
    capacity: replay rows per agent on it. num_seeds, num_envs, buffer_size: the whole run's.
    n_step_window: the state holds an n-step window (n_step > 1). compact: the rings keep
    final-observation slots per device (replay_layout='compact')."""

    devices: int
    data_parallel: bool  # shard_over == "envs" with devices > 1: the collectives below are live
    seeds: int
    envs: int
    batch: int
    capacity: int
    num_seeds: int
    num_envs: int
    buffer_size: int
    n_step_window: bool
    compact: bool

    # The collectives of the data-parallel program (identities otherwise); call them inside it.
    def block(self, x: jax.Array, axis: int = 0) -> jax.Array:
        """This device's block of an axis of length N·(its share): x drawn for all envs → its envs."""
        if not self.data_parallel:
            return x
        n = x.shape[axis] // self.devices
        return jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(AXIS) * n, n, axis)

    def own_key(self, key: jax.Array) -> jax.Array:
        """A key (2,) made distinct per device (for draws that need not match a single device's)."""
        return jax.random.fold_in(key, jax.lax.axis_index(AXIS)) if self.data_parallel else key

    def mean(self, tree: Any) -> Any:
        return jax.lax.pmean(tree, AXIS) if self.data_parallel else tree

    def sum(self, tree: Any) -> Any:
        return jax.lax.psum(tree, AXIS) if self.data_parallel else tree

    def max(self, tree: Any) -> Any:
        return jax.lax.pmax(tree, AXIS) if self.data_parallel else tree

    def gather(self, x: jax.Array, axis: int) -> jax.Array:
        """Every device's x concatenated along axis (device order), on every device."""
        return jax.lax.all_gather(x, AXIS, axis=axis, tiled=True) if self.data_parallel else x


def layout(config: SACConfig) -> Layout:
    """The run's Layout, made once by the builders (`train.build`, checkpoints, the memory check)."""
    D, S, N, C = config.num_devices, config.num_seeds, config.num_envs, config.buffer_size
    whole = dict(num_seeds=S, num_envs=N, buffer_size=C, n_step_window=config.n_step > 1,
                 compact=config.replay_layout == "compact")
    if D == 1 or config.shard_over == "seeds":
        return Layout(D, False, S // D, N, config.batch_size, C, **whole)
    return Layout(D, True, S, N // D, config.batch_size // D, C // D, **whole)


def make_mesh(num_devices: int) -> Mesh:
    """The first num_devices of jax.devices() as a 1-D mesh; a ConfigError if there are fewer."""
    devices = jax.devices()
    if num_devices > len(devices):
        hint = ("on a CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts"
                if devices[0].platform == "cpu" else "or start more processes (--num-processes)")
        raise ConfigError(f"num_devices={num_devices} is invalid: only {len(devices)} {devices[0].platform} "
                          f"device(s) are visible ({hint})")
    if jax.process_count() > 1 and num_devices != len(devices):
        raise ConfigError(f"num_devices={num_devices} is invalid: a run over {jax.process_count()} processes must "
                          f"use all {len(devices)} of their devices")
    return Mesh(np.array(devices[:num_devices]), (AXIS,))


def state_specs(lay: Layout) -> dict[str, P | None]:
    """{TrainState field: its PartitionSpec}, a prefix of the state's pytree (the layout above)."""
    # Data parallel: agents replicated, envs and rings split; else whole agents per device.
    split = P(None, AXIS) if lay.data_parallel else P(AXIS)
    replicated = P() if lay.data_parallel else split
    return dict(agent=replicated, buffer=split, env=split, nstep=split if lay.n_step_window else None,
                key=replicated, iteration=P(), updates=P())


def shardings(mesh: Mesh, specs: Any, tree: Any) -> Any:
    """A NamedSharding for every leaf of tree, from a prefix tree of PartitionSpecs."""
    def expand(spec, subtree):
        return jax.tree.map(lambda _: NamedSharding(mesh, spec), subtree)

    return jax.tree.map(expand, specs, tree, is_leaf=lambda x: isinstance(x, P) or x is None)


def distribute(lay: Layout, mesh: Mesh, init, run_chunk, specs: Any):
    """(init, run_chunk) of one device → jitted over the mesh, with the global layout above.

    specs: the TrainState of `state_specs`."""
    S = lay.num_seeds

    def to_global(ts):  # one device's state → its part of the global layout
        if not lay.data_parallel:
            return ts
        return ts.replace(buffer=jax.tree.map(lambda x: x[:, None], ts.buffer),
                          env=jax.tree.map(lambda x: x.reshape(S, lay.envs, *x.shape[1:]), ts.env))

    def to_local(ts):
        if not lay.data_parallel:
            return ts
        return ts.replace(buffer=jax.tree.map(lambda x: x[:, 0], ts.buffer),
                          env=jax.tree.map(lambda x: x.reshape(S * lay.envs, *x.shape[2:]), ts.env))

    per_agent = P() if lay.data_parallel else P(AXIS)

    def local_init(keys):
        return to_global(init(keys))

    def local_chunk(ts):
        ts, summary = run_chunk(to_local(ts))
        updates = summary.pop("updates")
        return to_global(ts), summary, updates

    sharded_init = jax.shard_map(local_init, mesh=mesh, in_specs=per_agent, out_specs=specs, check_vma=False)
    sharded_chunk = jax.shard_map(local_chunk, mesh=mesh, in_specs=(specs,), out_specs=(specs, per_agent, P()),
                                  check_vma=False)

    def chunk(ts):
        ts, summary, updates = sharded_chunk(ts)
        return ts, dict(summary, updates=updates)

    return jax.jit(sharded_init), jax.jit(chunk, donate_argnums=0)


def to_host(tree: Any) -> Any:
    """numpy copies of device arrays, whole even where they span processes."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if x.sharding.is_fully_replicated:
                return np.asarray(x.addressable_data(0))
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


# ------------------------------------------------ checkpoint layouts: D devices ↔ one device


def _ring_to_single(x: np.ndarray, num_envs: int) -> np.ndarray:
    """(S, D, C/D, ...) rings, row t·(N/D) + e of device d → (S, C, ...), row t·N + d·(N/D) + e."""
    S, D, rows = x.shape[:3]
    per = num_envs // D
    x = x.reshape(S, D, rows // per, per, *x.shape[3:]).swapaxes(1, 2)
    return x.reshape(S, D * rows, *x.shape[4:])


def _ring_from_single(x: np.ndarray, num_envs: int, D: int) -> np.ndarray:
    S, C = x.shape[:2]
    per = num_envs // D
    x = x.reshape(S, C // num_envs, D, per, *x.shape[2:]).swapaxes(1, 2)
    return x.reshape(S, D, C // D, *x.shape[4:])


def _sum_tree(leaves: np.ndarray) -> np.ndarray:
    """The heap-shaped sum-tree (…, 2C) over leaves (…, C) (layout: replay.ReplayBuffer.tree)."""
    C = leaves.shape[-1]
    tree = np.zeros((*leaves.shape[:-1], 2 * C), leaves.dtype)
    tree[..., C:] = leaves
    for k in range(C - 1, 0, -1):  # children 2k, 2k+1 > k are final before node k
        tree[..., k] = tree[..., 2 * k] + tree[..., 2 * k + 1]
    return tree


def buffer_to_single(buffer: Any, lay: Layout) -> Any:
    """A data-parallel run's buffer (numpy leaves (S, D, ...)) as one device holds the same rows."""
    _check_whole_steps(lay)
    C, N, devices = lay.buffer_size, lay.num_envs, lay.devices
    tree = None if buffer.tree is None else _sum_tree(_ring_to_single(buffer.tree[..., C // devices:], N))
    return buffer.replace(
        data=_ring_to_single(buffer.data, N),
        insert_pos=buffer.insert_pos[:, 0] * devices,
        size=buffer.size[:, 0] * devices,
        tree=tree,
        max_priority=None if buffer.max_priority is None else buffer.max_priority.max(1),
    )


def buffer_from_single(buffer: Any, lay: Layout) -> Any:
    """The inverse of buffer_to_single, onto the layout's devices."""
    _check_whole_steps(lay)
    C, N, D = lay.buffer_size, lay.num_envs, lay.devices
    spread = lambda x: np.repeat(x[:, None], D, axis=1)  # noqa: E731
    tree = None if buffer.tree is None else _sum_tree(_ring_from_single(buffer.tree[..., C:], N, D))
    return buffer.replace(
        data=_ring_from_single(buffer.data, N, D),
        insert_pos=spread(buffer.insert_pos // D),
        size=spread(buffer.size // D),
        tree=tree,
        max_priority=None if buffer.max_priority is None else spread(buffer.max_priority),
    )


def _check_whole_steps(lay: Layout) -> None:
    if lay.compact:
        raise ConfigError(
            "replay_layout='compact' rings (final-observation slots per device) cannot yet be laid out for "
            "another device count: resume on the same num_devices, or without the replay buffer")
    if lay.buffer_size % lay.num_envs:
        raise ConfigError(
            f"buffer_size={lay.buffer_size} is not a multiple of num_envs={lay.num_envs}: the replay rings "
            "of a data-parallel run then hold steps split across their wrap, and cannot be laid out for another "
            "device count (resume on the same num_devices, or use a buffer_size that num_envs divides)")


def single_state(state: Any, lay: Layout) -> Any:
    """A TrainState (numpy leaves) laid out as `lay` → the one-device layout."""
    if not lay.data_parallel:
        return state
    S, N = lay.num_seeds, lay.num_envs
    return state.replace(buffer=buffer_to_single(state.buffer, lay),
                         env=jax.tree.map(lambda x: x.reshape(S * N, *x.shape[2:]), state.env))


def from_single_state(state: Any, lay: Layout) -> Any:
    """A one-device TrainState (numpy leaves) → laid out as `lay`."""
    if not lay.data_parallel:
        return state
    S, N = lay.num_seeds, lay.num_envs
    return state.replace(buffer=buffer_from_single(state.buffer, lay),
                         env=jax.tree.map(lambda x: x.reshape(S, N, *x.shape[1:]), state.env))


def put(tree: Any, program: Any) -> Any:
    """Arrays (numpy, or device arrays placed already) → device arrays with the program's shardings
    (the first local device without a mesh); in a multi-process run each process places its shards."""
    if program.mesh is None:
        return jax.device_put(tree, jax.local_devices()[0])

    def place(x, sharding):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(place, tree, shardings(program.mesh, program.specs, tree))


__all__ = ["AXIS", "Layout", "buffer_from_single", "buffer_to_single", "distribute", "from_single_state",
           "layout", "make_mesh", "put", "shardings", "single_state", "state_specs", "to_host"]
