"""Dict observations for asymmetric actor-critic, as one flat vector the trainer stores once.

Playground's locomotion envs observe a dict of two flat arrays:

    {"state": (n,), "privileged_state": (m,)}

`state` is what the robot's sensors give (noisy): the actor's input. `privileged_state` adds what only
the simulator knows (true velocities, contact forces, ...): the critic's input. `flatten(env)` wraps
such an env into one whose observation is a single flat vector, and which carries `obs_layout`, an
`ObsLayout`: the columns of that vector that the actor and the critic read.

Nothing is stored twice. In Playground's Go1 and G1 envs `privileged_state` is
`jp.hstack([state, ...])`, the very array `state` (its noise included) followed by the rest; then the
flat obs is `privileged_state` alone (m), actor = (0, n), critic = (0, m). Otherwise it is
[state, privileged_state] (n + m), actor = (0, n), critic = (n, n + m).

Which one holds is read from the env's traced reset and step (their jaxprs, ~1 s; no compile, which
costs 15-30 s for a Go1/G1 reset on a CPU): the prefix layout is used only where `privileged_state` is
a concatenation whose first operand is the same traced value as `state` in both, so equal-looking
values that are not the same array (an independently noised copy) never pass. Where the check cannot
tell, the layout is the concatenated one: it costs n columns of replay, never correctness.

The inner env's step gets back the dict it returned (both arrays are cut from the flat vector, exactly:
some Playground envs read `state.obs` in step to build an observation history).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

KEYS = ("state", "privileged_state")


class ObsLayout(NamedTuple):
    """(start, stop) columns of the flat observation that each network reads: obs[..., start:stop]."""

    actor: tuple[int, int]
    critic: tuple[int, int]


def _producers(jaxpr: Any) -> dict[int, Any]:
    """id(var) → the equation that outputs it, over one jaxpr's top level."""
    return {id(v): e for e in jaxpr.eqns for v in e.outvars}


def _origin(var: Any, producers: dict[int, Any]) -> Any:
    """`var`, seen through calls that return an input unchanged (jnp.atleast_1d, used by jnp.hstack,
    is a jitted identity on a 1-D array)."""
    for _ in range(100):
        e = producers.get(id(var))
        inner = e.params.get("jaxpr") if e is not None else None
        inner = getattr(inner, "jaxpr", inner)
        if inner is None or not hasattr(inner, "outvars"):
            return var
        out = inner.outvars[[id(v) for v in e.outvars].index(id(var))]
        ins = [id(v) for v in inner.invars]
        if id(out) not in ins:
            return var
        var = e.invars[ins.index(id(out))]
    return var


def _trace(fn: Any, *args: Any) -> tuple[Any, Any]:
    """(fn's jaxpr, fn's output as ShapeDtypeStructs): a trace, no compile."""
    closed, shapes = jax.make_jaxpr(fn, return_shape=True)(*args)
    return closed.jaxpr, shapes


def _begins_with_state(jaxpr: Any, out: Any) -> bool:
    """Whether out.obs["privileged_state"] is, in `jaxpr` (which outputs `out`), a concatenation that
    begins with out.obs["state"] itself."""
    index = {id(leaf): i for i, leaf in enumerate(jax.tree.leaves(out))}
    producers = _producers(jaxpr)
    state = _origin(jaxpr.outvars[index[id(out.obs["state"])]], producers)
    var = _origin(jaxpr.outvars[index[id(out.obs["privileged_state"])]], producers)
    for _ in range(100):  # hstack([hstack([state, a]), b]) begins with state too
        if var is state:
            return True
        e = producers.get(id(var))
        if e is None or e.primitive.name != "concatenate" or e.params.get("dimension") != 0 or not e.invars:
            return False
        var = _origin(e.invars[0], producers)
    return False


def _obs_sizes(obs: Any, name: str) -> tuple[int, int]:
    """(n, m): the sizes of a traced {"state": (n,), "privileged_state": (m,)}; ValueError otherwise."""
    if not isinstance(obs, dict) or set(obs) != set(KEYS):
        what = {k: v.shape for k, v in obs.items()} if isinstance(obs, dict) else getattr(obs, "shape", obs)
        raise ValueError(f"{name} does not observe a dict with keys {', '.join(KEYS)}: it observes {what}")
    if any(len(v.shape) != 1 for v in obs.values()):
        raise ValueError(f"{name}: state and privileged_state must be flat (one axis each), not "
                         f"{ {k: v.shape for k, v in obs.items()} }")
    return obs["state"].shape[0], obs["privileged_state"].shape[0]


class FlatDictEnv:
    """An env with {"state", "privileged_state"} observations, made flat (see the module's docstring);
    everything else is the inner env's (its action size, `sys`/`mj_model` for rendering, `render`, ...)."""

    def __init__(self, env: Any, _reset: tuple[Any, Any] | None = None):
        # _reset: env.reset's (jaxpr, output shapes) where the caller has traced it (flatten_if_dict)
        jaxpr, state = _reset or _trace(env.reset, jax.random.PRNGKey(0))
        n, m = _obs_sizes(state.obs, type(env).__name__)
        self.env = env
        self.prefix = m >= n and _begins_with_state(jaxpr, state) and _begins_with_state(
            *_trace(env.step, state, jax.ShapeDtypeStruct((env.action_size,), jnp.float32)))
        self.observation_size = m if self.prefix else n + m
        self.obs_layout = ObsLayout((0, n), (0, m) if self.prefix else (n, n + m))

    def flat_obs(self, obs: dict[str, jax.Array]) -> jax.Array:
        """The inner dict observation (leading axes kept) → the flat one, (..., observation_size)."""
        if self.prefix:
            return obs["privileged_state"]
        return jnp.concatenate([obs["state"], obs["privileged_state"]], axis=-1)

    def split_obs(self, obs: jax.Array) -> dict[str, jax.Array]:
        """The inverse of flat_obs."""
        a, c = self.obs_layout
        return {"state": obs[..., a[0]:a[1]], "privileged_state": obs[..., c[0]:c[1]]}

    def reset(self, key: jax.Array) -> Any:
        state = self.env.reset(key)
        return state.replace(obs=self.flat_obs(state.obs))

    def step(self, state: Any, action: jax.Array) -> Any:
        inner = self.env.step(state.replace(obs=self.split_obs(state.obs)), action)
        return inner.replace(obs=self.flat_obs(inner.obs))

    def __getattr__(self, name: str) -> Any:  # only called for what this class does not define
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


def flatten(env: Any) -> FlatDictEnv:
    """`env` (observing {"state", "privileged_state"}) as the trainer takes it: see FlatDictEnv."""
    return FlatDictEnv(env)


def flatten_if_dict(env: Any) -> Any:
    """flatten(env) where env observes a dict, else env itself (one traced reset decides)."""
    reset = _trace(env.reset, jax.random.PRNGKey(0))
    return FlatDictEnv(env, reset) if isinstance(reset[1].obs, dict) else env


def obs_layout(env: Any) -> ObsLayout | None:
    """The ObsLayout of a flattened dict-observation env, None for any other env (flat observations:
    actor and critic read all of it)."""
    layout = getattr(env, "obs_layout", None)
    return layout if isinstance(layout, ObsLayout) else None
