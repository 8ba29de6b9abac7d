"""Bad device and process settings fail at once with a message that names the field (one device here)."""

from __future__ import annotations

import jax
import pytest
from conftest import tiny_config

from gpu_sac import ConfigError
from gpu_sac.cli import EXIT_USAGE, train_main
from gpu_sac.run.distributed import ClusterOptions, check
from gpu_sac.training.train import build


@pytest.mark.parametrize(("fields", "message"), [
    (dict(num_devices=3), "num_envs=4 is invalid: must be a multiple of num_devices=3"),
    (dict(num_devices=2, batch_size=33, min_replay_size=64), "batch_size=33 is invalid: must be a multiple"),
    (dict(num_devices=2, buffer_size=1025), "buffer_size=1025 is invalid: must be a multiple"),
    (dict(num_devices=2, num_seeds=3, shard_over="seeds"), "num_seeds=3 is invalid: must be a multiple"),
    (dict(num_devices=2, env_group_size=4), "env_group_size=4 is invalid: must divide num_seeds·num_envs/num_devic"),
    (dict(num_devices=0), "num_devices=0 is invalid"),
    (dict(num_devices=2, shard_over="agents"), "shard_over='agents' is invalid: must be one of envs, seeds"),
])
def test_device_fields_are_checked(fields, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**fields)


def test_more_devices_than_there_are_is_refused_with_the_way_to_get_them():
    D = jax.device_count() + 1
    with pytest.raises(ConfigError, match=rf"num_devices={D} is invalid: only {D - 1} cpu device\(s\).*xla_force_host"):
        build(tiny_config(num_devices=D, num_seeds=D, shard_over="seeds"))


@pytest.mark.parametrize(("options", "message"), [
    (ClusterOptions(process_id=1), "missing: --coordinator-address, --num-processes"),
    (ClusterOptions(coordinator_address="h:1", num_processes=2, process_id=2), "process_id=2 is invalid"),
    (ClusterOptions(coordinator_address="h:1", num_processes=0, process_id=0), "num_processes=0 is invalid"),
    (ClusterOptions(distributed=True, heartbeat_timeout_s=0), "heartbeat_timeout_s=0 is invalid"),
])
def test_cluster_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        check(options)


def test_cli_refuses_incomplete_cluster_flags_in_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        train_main(["--process-id", "1"], prog="train.py")
    assert e.value.code == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs --coordinator-address, --num-processes and --process-id" in err[0]
