"""Several processes, one run: `jax.distributed` across hosts (or across processes of one host).

Every process runs the same program over the global mesh (`gpu_sac.training.mesh`): each steps the envs and
keeps the replay rows of its own devices, and the collectives cross processes. Process 0 writes the
run directory (config, metrics, TensorBoard, the exported policy, plot, video); every process takes
part in evaluation (a jitted program over the mesh) and in each checkpoint (orbax writes each
process's shards, process 0 the metadata), so the run directory must be one path that all of them
reach (a shared file system).

    # host A (process 0) and host B (process 1), 2 devices each:
    python experiments/train.py --num-devices 4 --run-dir /shared/run --coordinator-address A:9876 \
        --num-processes 2 --process-id 0
    python experiments/train.py --num-devices 4 --run-dir /shared/run --coordinator-address A:9876 \
        --num-processes 2 --process-id 1

Under SLURM, Open MPI or Kubernetes, `--distributed` alone lets JAX read the cluster's own variables.
When a process dies, the others learn it from the coordination service's heartbeat (after
`heartbeat_timeout_s`) and stop; resume with `--resume` on every process.
"""

from __future__ import annotations

import dataclasses

from gpu_sac.config import ConfigError


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """How this process joins a multi-process run (all unset: a run of one process)."""

    coordinator_address: str | None = None
    """host:port where process 0 serves the coordination service (every process names the same)."""
    num_processes: int | None = None
    """Processes in the run."""
    process_id: int | None = None
    """This process's index, 0 … num_processes − 1 (0 writes the run directory)."""
    distributed: bool = False
    """Join a multi-process run described by the environment (SLURM, Open MPI, Kubernetes,
    JAX_COORDINATOR_ADDRESS) rather than by the three flags above."""
    heartbeat_timeout_s: int = 30
    """Seconds without a heartbeat after which a process counts as dead and the others stop."""

    @property
    def enabled(self) -> bool:
        return self.distributed or any(
            v is not None for v in (self.coordinator_address, self.num_processes, self.process_id))


def check(options: ClusterOptions) -> None:
    """ConfigError for flags that cannot start a run (or that a one-process run would ignore)."""
    if not isinstance(options.heartbeat_timeout_s, int) or not 1 <= options.heartbeat_timeout_s <= 86_400:
        raise ConfigError(f"heartbeat_timeout_s={options.heartbeat_timeout_s} is invalid: must be an integer "
                          "in [1, 86400] seconds")
    if not options.enabled:
        if options.heartbeat_timeout_s != ClusterOptions.heartbeat_timeout_s:
            raise ConfigError("heartbeat_timeout_s is given without a multi-process run: it needs --distributed, "
                              "or --coordinator-address, --num-processes and --process-id")
        return
    given = {"coordinator_address": options.coordinator_address, "num_processes": options.num_processes,
             "process_id": options.process_id}
    if not options.distributed and None in given.values():
        missing = ", ".join(f"--{k.replace('_', '-')}" for k, v in given.items() if v is None)
        raise ConfigError(f"a multi-process run needs --coordinator-address, --num-processes and --process-id "
                          f"(missing: {missing}), or --distributed to read them from the cluster's environment")
    n, i = options.num_processes, options.process_id
    if n is not None and not 1 <= n <= 2**31 - 1:
        raise ConfigError(f"num_processes={n} is invalid: must be in [1, {2**31 - 1}]")
    if i is not None and n is not None and not 0 <= i < n:
        raise ConfigError(f"process_id={i} is invalid: must be in 0 … num_processes − 1 = {n - 1}")


def initialize(options: ClusterOptions) -> None:
    """Start jax.distributed as `options` say (nothing for a one-process run). Must run before
    anything asks JAX for its devices."""
    check(options)
    if not options.enabled:
        return
    import faulthandler
    import sys

    import jax

    # JAX's preemption service would swallow SIGTERM (a `timeout` or a scheduler could not stop us).
    jax.config.update("jax_enable_preemption_service", False)
    jax.distributed.initialize(
        coordinator_address=options.coordinator_address,
        num_processes=options.num_processes,
        process_id=options.process_id,
        heartbeat_timeout_seconds=options.heartbeat_timeout_s,
        shutdown_timeout_seconds=max(options.heartbeat_timeout_s, 10),
    )
    # When a peer dies, the runtime aborts this process from C++ (no Python exception can be caught):
    # say so now, and let faulthandler show where Python was when it happens.
    faulthandler.enable()
    print(f"process {jax.process_index()} of {jax.process_count()}: {jax.local_device_count()} of "
          f"{jax.device_count()} devices here. If any process dies, the others stop within "
          f"~{options.heartbeat_timeout_s} s (JAX: 'another task died'); resume every process with --resume RUN_DIR",
          file=sys.stderr, flush=True)


def is_main_process() -> bool:
    """Process 0 (the only one in a one-process run): the one that writes the run directory."""
    import jax

    return jax.process_index() == 0


def process_count() -> int:
    import jax

    return jax.process_count()
