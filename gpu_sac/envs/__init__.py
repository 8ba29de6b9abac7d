"""Environments behind one registry: name → (family, maker, preset).

- `pendulum`: Gym's Pendulum-v1 in pure JAX (trains in minutes on a CPU).
- every Brax environment by name, MJX backend by default (`brax_backend` for the others).
- MuJoCo Playground's DM Control suite by its registry names: MuJoCo Warp on a GPU with warp-lang, MJX
  (`impl="jax"`) elsewhere (gpu_sac/envs/physics.py; `playground_impl` chooses by hand).
- MuJoCo Playground's locomotion envs (Go1, G1, ...; gpu_sac/envs/locomotion.py), the same physics, their dict
  observations flattened (gpu_sac/envs/dict_obs.py: the env carries `obs_layout`, the actor's and the critic's
  columns); Go1/G1 meshes fetched on first use (gpu_sac/envs/menagerie.py), other robots' placed by hand.
- goal-conditioned tasks with sparse rewards, for hindsight relabelling (`her`, gpu_sac/envs/goal.py):
  `point_reach` and `arm_reach` in pure JAX (gpu_sac/envs/reach.py), `reacher_goal` on Brax's MJX reacher
  (gpu_sac/envs/goal_reacher.py). Their makers return them flattened (`goal.flatten`), carrying a `GoalSpec`.
- `custom`: no maker; for `train(SACConfig(env="custom", ...), env=my_env)` with an env of your own.

An env is a Brax-style object: reset(key) -> State, step(State, action) -> State, State.obs /
.reward / .done, `observation_size` and `action_size` (optional `action_bounds` = (low, high), each
(action_size,); otherwise actions are in [-1, 1]). The trainer, not the env, handles episode ends: it
truncates at `episode_length`, keeps the true final observation, and resets each finished env with
a fresh key. So makers return the raw env, with no episode or auto-reset wrapper, and
`check_env` refuses an env that has them.

A new family registers its names here, with a maker that takes the family's options (config fields
such as `brax_backend`, named in `EnvSpec.options`) and a preset per name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from gpu_sac.envs import brax_envs, goal, goal_reacher, locomotion, pendulum, playground_envs, reach, recipes
from gpu_sac.envs.brax_envs import BRAX_ENVS
from gpu_sac.envs.locomotion import LOCOMOTION_ENVS
from gpu_sac.envs.playground_envs import PLAYGROUND_ENVS


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """One registered env: make(**options) -> env; preset: the SACConfig fields it sets (on a GPU, and on
    a CPU where cpu_preset does not replace them: SACConfig.preset picks)."""

    name: str
    family: str
    make: Callable[..., Any]
    preset: Mapping[str, Any]
    options: tuple[str, ...] = ()  # SACConfig fields (or _DERIVED ones) passed to make() by make_env
    cpu_preset: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # replaces preset's fields on a CPU
    goal: bool = False  # a goal env (flat, with a GoalSpec): hindsight relabelling can run on it


def _no_maker(**_: Any) -> Any:
    raise ValueError(
        "env='custom' has no maker: pass your env object, train(SACConfig(env='custom', ...), env=my_env)"
    )


REGISTRY: dict[str, EnvSpec] = {}


def register(spec: EnvSpec) -> None:
    """Add (or replace) a name in the registry."""
    REGISTRY[spec.name] = spec


register(EnvSpec("pendulum", "pure_jax", lambda: pendulum.Pendulum(), pendulum.PRESET))
for _name in BRAX_ENVS:
    register(EnvSpec(_name, "brax", lambda _n=_name, **options: brax_envs.make_brax(_n, **options),
                     brax_envs.preset(_name), options=("brax_backend", *brax_envs.DYNAMICS),
                     cpu_preset=brax_envs.CPU))
# What a Playground maker takes from the config: the physics, and Warp's sizes and graph mode (gpu_sac/envs/physics.py).
_PHYSICS = ("playground_impl", "worlds", "warp_graph_mode", "num_devices")
for _name in PLAYGROUND_ENVS:
    register(EnvSpec(_name, "playground", lambda _n=_name, **options: playground_envs.make_playground(_n, **options),
                     playground_envs.preset(_name), options=_PHYSICS, cpu_preset=brax_envs.CPU))
for _name in LOCOMOTION_ENVS:
    register(EnvSpec(_name, "playground_locomotion",
                     lambda _n=_name, **options: locomotion.make_locomotion(_n, **options),
                     locomotion.preset(_name), options=(*_PHYSICS, "domain_randomization"),
                     cpu_preset=locomotion.LOCOMOTION_CPU))
register(EnvSpec("point_reach", "pure_jax", lambda: goal.flatten(reach.PointReach()), reach.PRESET, goal=True))
register(EnvSpec("arm_reach", "pure_jax", lambda: goal.flatten(reach.ArmReach()), reach.PRESET, goal=True))
register(EnvSpec("reacher_goal", "brax", lambda backend="mjx": goal.flatten(goal_reacher.GoalReacher(backend)),
                 goal_reacher.PRESET, options=("brax_backend",), goal=True))
register(EnvSpec("custom", "custom", _no_maker, {}))

# SACConfig field → the maker's keyword.
_OPTION_KEYWORDS = {"brax_backend": "backend", "playground_impl": "impl", "warp_graph_mode": "graph_mode",
                    "worlds": "worlds",
                    **{name: name for name in ("domain_randomization", "num_devices", *brax_envs.DYNAMICS)}}


def worlds(config: Any) -> int:
    """The most envs a run steps in one call on one device: its training envs there, or the evaluation's
    num_seeds x eval_episodes (MuJoCo Warp sizes its shared contact buffers for them: gpu_sac/envs/physics.py)."""
    training = config.num_seeds * config.num_envs // config.num_devices
    return max(training, config.num_seeds * max(config.eval_episodes, 1))


# Options computed from the config rather than read from one field.
_DERIVED = {"worlds": worlds}


def names() -> tuple[str, ...]:
    """Every registered name."""
    return tuple(REGISTRY)


def spec(name: str) -> EnvSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown env {name!r}; choose one of: {', '.join(names())}")
    return REGISTRY[name]


def preset(name: str, platform: str = "gpu") -> dict[str, Any]:
    """The SACConfig fields that env `name` sets on top of the seed's defaults, on platform "gpu" or
    "cpu" (its cpu_preset over its preset), or under a recipe of gpu_sac/envs/recipes.py ("fastsac": the
    recipe over its gpu preset)."""
    s = spec(name)
    if platform in recipes.RECIPES:
        return {**s.preset, **recipes.RECIPES[platform]}
    return {**s.preset, **(s.cpu_preset if platform == "cpu" else {})}


def make_env(config: Any) -> Any:
    """The raw env that `config` names, with its family's options taken from the config."""
    s = spec(config.env)
    return s.make(**{_OPTION_KEYWORDS[o]: _DERIVED[o](config) if o in _DERIVED else getattr(config, o)
                     for o in s.options})


def make(name: str, **options: Any) -> Any:
    """The raw env called `name`; options: the family's maker keywords (backend=, impl=)."""
    return spec(name).make(**options)


# Class names of the wrappers that Brax's and Playground's training loops put around an env: they end
# episodes and auto-reset inside step(), so every time limit would reach us as a termination and the
# final observation would already be replaced by the reset one.
_TRAINING_WRAPPERS = ("EpisodeWrapper", "AutoResetWrapper", "BraxAutoResetWrapper", "VmapWrapper",
                      "DomainRandomizationVmapWrapper", "BraxDomainRandomizationVmapWrapper", "EvalWrapper")


def check_env(env: Any) -> tuple[int, int]:
    """(obs_dim, act_dim) of a gpu_sac env; ValueError saying what is missing or wrong otherwise."""
    # The type first: hasattr on the instance would evaluate Brax's costly observation_size property.
    missing = [a for a in ("reset", "step", "observation_size", "action_size")
               if not (hasattr(type(env), a) or hasattr(env, a))]
    if missing:
        raise ValueError(
            f"{type(env).__name__} is not a gpu_sac env: it lacks {', '.join(missing)}. An env needs "
            "reset(key) -> State, step(State, action) -> State (State with .obs, .reward, .done), "
            "observation_size and action_size (see gpu_sac/envs/__init__.py)"
        )
    wrapper, inner = None, env
    while inner is not None:
        if type(inner).__name__ in _TRAINING_WRAPPERS:
            wrapper = wrapper or type(inner).__name__
        inner = getattr(inner, "env", None)
    if wrapper is not None:
        raise ValueError(
            f"env is wrapped for training ({wrapper}): gpu_sac ends episodes and resets envs itself, and "
            "through such a wrapper every time limit would count as a termination and the final observation "
            "would be lost. Pass the raw env (e.g. brax.envs.get_environment(name) or "
            "mujoco_playground.registry.load(name)), without wrap_for_brax_training or training wrappers"
        )
    obs_size = _observation_size(env)
    if not isinstance(obs_size, int) and not hasattr(obs_size, "__index__"):
        raise ValueError(
            f"observation_size={obs_size!r}: gpu_sac needs flat array observations (an int size), "
            "not a dict of observations (a goal env with observation, achieved_goal and desired_goal: "
            "pass gpu_sac.envs.goal.flatten(env); one with state and privileged_state, as Playground's locomotion "
            "envs: pass gpu_sac.envs.dict_obs.flatten(env))"
        )
    return int(obs_size), int(env.action_size)


def _observation_size(env: Any) -> Any:
    """env.observation_size, read from the shapes of a traced reset where it is a property: Brax's
    property runs an eager, op-by-op reset (~25 s for an MJX env on a CPU; the trace takes ~0.4 s)."""
    if not isinstance(getattr(type(env), "observation_size", None), property):
        return env.observation_size
    import jax

    obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs
    return obs.shape[-1] if hasattr(obs, "shape") else jax.tree.map(lambda x: x.shape, obs)


__all__ = ["BRAX_ENVS", "LOCOMOTION_ENVS", "PLAYGROUND_ENVS", "REGISTRY", "EnvSpec", "check_env", "make", "make_env",
           "names", "preset", "register", "spec"]
