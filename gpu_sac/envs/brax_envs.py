"""Brax environments (brax.envs), MJX physics by default."""

from __future__ import annotations

from typing import Any

from gpu_sac.envs.playground_envs import PLAYGROUND_DM_CONTROL

# brax.envs._envs at brax 0.14.2, less 'fast' (a test stub with no physics).
BRAX_ENVS = (
    "ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted_pendulum",
    "inverted_double_pendulum", "pusher", "reacher", "swimmer", "walker2d",
)


# Brax locomotion (MJX backend). Brax publishes no SAC settings for its MJX envs that run on current
# JAX, so these take the Playground DM Control SAC config (playground_envs.py) (tuned for massively parallel SAC
# on MJX by the same team) with a 1 M step budget, 100 000 steps per chunk, and the Brax envs'
# 1 000-step episodes.
BRAX = dict(PLAYGROUND_DM_CONTROL, total_steps=1_000_000, steps_per_chunk=100_000)

# On a CPU (SACConfig.preset "cpu", the default there), the MJX envs (Brax and Playground) replace the
# run's size with this one, chosen for wall-clock to a return on a 2-core CPU. Only the fields that size
# the run change; learning settings (γ, learning rates, reward scale, LayerNorm, ...) stay the env's.
# Chosen by `python -m experiments.time_to_score --preset sweep-cpu --cases halfcheetah-sweep` (records:
# experiments/results/cpu-amd-epyc-2c/time_to_score/halfcheetah-sweep/, one seed per point, batch 256):
# wall-clock to a return of 3 000 on halfcheetah, compile and evaluation included, was 214 s at 16 envs
# with 8 updates per vectorised step and 239-299 s at the other five points of {16, 32, 64} envs ×
# {4, 8} updates (docs/time_to_score.md shows them). The sweep ran on halfcheetah alone.
CPU = dict(
    total_steps=100_000,
    steps_per_chunk=10_000,
    num_envs=16,
    env_group_size=16,  # MJX steps ~3x faster per env in sequential groups of 16 on a CPU (see Throughput)
    grad_updates_per_step=8,
    batch_size=256,
    buffer_size=1_000_000,
    start_steps=5_000,
    min_replay_size=5_000,
)

# Brax's own SAC settings where Brax publishes them: the training notebook
# (brax/notebooks/training.ipynb, `train_fn` dict) trains hopper and walker2d with SAC (its other
# envs with PPO). Brax's names: learning_rate (all three optimisers), discounting → gamma,
# reward_scaling → reward_scale, max_replay_size → buffer_size, min_replay_size (collected with
# random actions, so start_steps too); grad_updates_per_step counts updates per vectorised step, as
# ours does. Not taken from Brax: its α₀ = 1 and target entropy −dim(A)/2 (we keep the seed's).
# Chunks of 131 072 steps (1 024 vectorised steps of 128 envs) divide both step budgets exactly.
BRAX_HOPPER = dict(
    BRAX,
    total_steps=6_553_600,
    steps_per_chunk=131_072,
    num_envs=128,
    batch_size=512,
    grad_updates_per_step=64,
    buffer_size=1_048_576,
    min_replay_size=8192,
    start_steps=8192,
    gamma=0.997,
    reward_scale=30.0,
    actor_lr=6e-4,
    critic_lr=6e-4,
    alpha_lr=6e-4,
    normalize_observations=True,
    critic_layer_norm=False,
)
BRAX_WALKER2D = dict(
    BRAX_HOPPER,
    total_steps=7_864_320,
    batch_size=128,
    grad_updates_per_step=32,
    reward_scale=5.0,
)
_BRAX_SPECIFIC = {"hopper": BRAX_HOPPER, "walker2d": BRAX_WALKER2D}


def preset(name: str) -> dict[str, Any]:
    """Brax's published SAC settings for hopper and walker2d; the Playground-derived BRAX otherwise."""
    return dict(_BRAX_SPECIFIC.get(name, BRAX))


# Changed dynamics (SACConfig fields, for transfer experiments): option → what it multiplies.
DYNAMICS = ("mass_scale", "friction_scale", "actuator_scale")


def make_brax(name: str, backend: str = "mjx", mass_scale: float = 1.0, friction_scale: float = 1.0,
              actuator_scale: float = 1.0, **kwargs: Any) -> Any:
    """The raw Brax env (no EpisodeWrapper, no AutoResetWrapper): actions in [-1, 1]; its model's
    masses, frictions and actuator gears scaled as asked (`scale_dynamics`)."""
    from brax import envs as brax_envs

    env = brax_envs.get_environment(name, backend=backend, **kwargs)
    if (mass_scale, friction_scale, actuator_scale) != (1.0, 1.0, 1.0):
        env.sys = scale_dynamics(env.sys, mass_scale, friction_scale, actuator_scale)
    return env


# The model fields that scale_dynamics changes: the scaled ones, and the constants MuJoCo derives
# from them (subtree masses, inverse weights, actuator accelerations), recomputed by mj_setConst.
_SCALED_FIELDS = ("body_mass", "body_inertia", "body_subtreemass", "body_invweight0", "dof_invweight0",
                  "tendon_invweight0", "actuator_acc0", "geom_friction", "pair_friction", "actuator_gear")


def scale_dynamics(sys: Any, mass: float = 1.0, friction: float = 1.0, actuator: float = 1.0) -> Any:
    """A Brax System with every body's mass and inertia times `mass`, every geom's and contact pair's
    friction coefficients times `friction`, every actuator's gear times `actuator`. The scaling is
    done on a copy of the MuJoCo model, whose derived constants mj_setConst then recomputes, and the
    changed fields are put into the System (the env's other settings are kept)."""
    import copy

    import jax.numpy as jnp
    import mujoco
    import numpy as np

    model = copy.copy(sys.mj_model)
    model.body_mass[:] *= mass
    model.body_inertia[:] *= mass
    model.geom_friction[:] *= friction
    model.pair_friction[:] *= friction
    model.actuator_gear[:] *= actuator
    mujoco.mj_setConst(model, mujoco.MjData(model))
    changed = {}
    for name in _SCALED_FIELDS:
        old = getattr(sys, name)
        new = np.asarray(getattr(model, name), dtype=np.asarray(old).dtype)
        changed[name] = new if isinstance(old, np.ndarray) else jnp.asarray(new)
    return sys.tree_replace(changed).replace(mj_model=model)
