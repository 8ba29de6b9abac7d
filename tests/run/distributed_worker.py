"""One process of a 2-process run on localhost, for tests/run/test_distributed.py (run there, not by pytest).

    python tests/run/distributed_worker.py PORT PROCESS_ID RUN_DIR

Trains tiny pendulum data parallel over the 4 devices of the two processes (2 each, forced by the
caller's XLA_FLAGS) through run_experiment, then prints one JSON line: this process's digest of its
own copy of the parameters, and the final evaluation."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gpu_sac.run import distributed  # noqa: E402


def tiny_config(chunks: int = 3):
    from gpu_sac import SACConfig

    return SACConfig(env="pendulum", num_envs=8, total_steps=128 * chunks, steps_per_chunk=128,
                     hidden_sizes=(32, 32), batch_size=32, buffer_size=1024, min_replay_size=64, start_steps=64,
                     eval_episodes=2, episode_length=50, num_devices=4, normalize_observations=True)


def main() -> None:
    port, pid, run_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    distributed.initialize(distributed.ClusterOptions(coordinator_address=f"localhost:{port}", num_processes=2,
                                                      process_id=pid, heartbeat_timeout_s=10))
    import jax
    import numpy as np

    from gpu_sac import RunOptions, run_experiment

    out = run_experiment(tiny_config(), RunOptions(run_dir=run_dir, progress="none", video=False, tensorboard=False))
    agent = out.result.state.agent
    # This process's own copy (its first local device's shard) of the replicated parameters.
    local = [np.asarray(leaf.addressable_shards[0].data) for leaf in jax.tree.leaves(agent)]
    digest = hashlib.sha256(b"".join(x.tobytes() for x in local)).hexdigest()
    print(json.dumps({"process": jax.process_index(), "digest": digest, "devices": jax.device_count(),
                      "eval_return": out.history[-1]["eval_return"], "chunks": len(out.history)}), flush=True)


if __name__ == "__main__":
    main()
