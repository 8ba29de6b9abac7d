"""XLA's cost analysis as a CPU proxy for GPU cost (experiments/program_cost.py): the fused chunk makes no
host transfer, a host callback inside a scan is counted, and the per-step and per-update figures grow
with what they measure."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from conftest import tiny_config

from experiments.program_cost import host_transfers, program_cost
from gpu_sac.training.train import build, seed_keys


def cost(**overrides):
    program = build(tiny_config(**overrides))
    return program_cost(program, jax.eval_shape(program.init, seed_keys(program.config)))


def test_the_fused_chunk_has_no_host_transfer_and_costs_grow_with_the_work():
    small, wide = cost(), cost(hidden_sizes=(64, 64))
    assert small["host_transfers_in_chunk"] == 0 and wide["host_transfers_in_chunk"] == 0
    assert small["ffi_calls_per_step"] == 0  # pendulum: pure JAX, nothing XLA cannot see into
    assert 0 < small["flops_per_update"] < wide["flops_per_update"]
    assert 0 < small["flops_per_env_step"] < wide["flops_per_env_step"]  # the policy's forward pass
    # The ring's in-place write is not counted at the ring's size (XLA's analysis would count it so).
    assert cost(buffer_size=65_536)["bytes_per_env_step"] == small["bytes_per_env_step"]
    lowered = cost()  # counted in the compiled chunk by default
    assert lowered["host_transfers_counted_in"] == "compiled HLO"


def test_a_host_callback_inside_a_scan_is_counted_compiled_and_lowered():
    def f(x):
        def body(c, _):
            jax.debug.callback(lambda v: None, c)
            return c + 1, None

        return jax.lax.scan(body, x, None, length=3)[0]

    lowered = jax.jit(f).lower(jnp.ones(3))
    assert host_transfers(lowered.as_text()) == 1
    assert host_transfers(lowered.compile().as_text()) == 1
    assert host_transfers(jax.jit(lambda x: x + 1).lower(jnp.ones(3)).compile().as_text()) == 0
