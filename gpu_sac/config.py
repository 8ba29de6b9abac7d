"""SACConfig: the frozen, validated configuration of one training run.

`SACConfig(env=name, **fields)` takes the env's preset (`envs.preset`, from the env family's module; its
CPU or GPU preset, as `preset` picks: by JAX's default backend unless set) for every field the caller
does not pass, and the seed's defaults (`SEED_DEFAULTS`, from `seed/sac.md` §5)
for every field the preset does not set. The config is validated once, here, before anything is
compiled: a bad value raises `ConfigError` naming the field, the value and what is allowed.

Each field is declared once, in SACConfig: its type (a Literal's arguments are its choices), its seed
default and its check (`option(...)`), and its docstring (tyro shows it in --help). `SEED_DEFAULTS`
and the per-field checks are read from those declarations.

Changing env (or preset) with `dataclasses.replace(config, env=other)` gives `other`'s preset (or the seed's
default) to every field that was filled from the old env's preset or the seed's defaults; a field the
caller set, when the config was made or in that replace call, keeps its value. (A field passed to the
replace call with exactly the value the old preset gave it cannot be told from one carried over: it
takes the new preset's value. To be sure of every value, make a fresh `SACConfig(env=other, ...)`.)
A config made from every field (as one read back from config.json is) has no preset-filled field, so
replace changes only the fields it is given; one parsed from the command line counts the flags given
as set and the rest as preset-filled.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from tyro.conf import Suppress


class ConfigError(ValueError):
    """A config value that cannot run: the message names the field, the value and what is allowed."""


class _Unset:
    """Marks a field the caller did not pass, so that the preset or the seed's default fills it."""

    def __repr__(self) -> str:
        return "<preset>"


UNSET: Any = _Unset()

# The device counts vectorised steps, and optax counts updates, in int32; every integer field is bounded
# by it, so that no count, index or shape a run derives from one field overflows JAX's int32.
MAX_COUNT = 2**31 - 1
# jax.random.PRNGKey keeps the low 32 bits of a seed (2**32 gives the key of 0): seeds above this alias.
MAX_SEED = 2**32 - 1


# ----------------------------------------------------------------------------- per-field checks


@dataclasses.dataclass(frozen=True)
class Check:
    """The rule for one field's value on its own: ok(value) says whether it can run; allowed says
    which values can (it ends the error message)."""

    ok: Callable[[Any], bool]
    allowed: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(low: int, high: int = MAX_COUNT) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and low <= v <= high


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return _is_real(value) and math.isfinite(value)


POSITIVE_INT = Check(_count(1), f"must be a positive integer <= {MAX_COUNT} (int32)")
COUNT = Check(_count(0), f"must be an integer in [0, {MAX_COUNT}] (int32)")
# Env steps over all envs (total_steps, steps_per_chunk, start_steps) may pass 2**31: the device counts
# vectorised steps (env steps / num_envs), which _check_relations keeps within int32.
MAX_ENV_STEPS = 2**62
ENV_STEPS = Check(_count(1, MAX_ENV_STEPS), "must be a positive integer <= 2**62")
ENV_STEPS_OR_ZERO = Check(_count(0, MAX_ENV_STEPS), "must be an integer in [0, 2**62]")
SEED = Check(_count(0, MAX_SEED), f"must be an integer in [0, {MAX_SEED}] (a 32-bit PRNG seed)")
POSITIVE = Check(lambda v: _is_finite(v) and v > 0, "must be a finite number > 0")
NONNEGATIVE = Check(lambda v: _is_finite(v) and v >= 0, "must be a finite number >= 0")
FINITE = Check(_is_finite, "must be a finite number")
UNIT_OPEN = Check(lambda v: _is_real(v) and 0 < v <= 1, "must be in (0, 1]")
UNIT = Check(lambda v: _is_real(v) and 0 <= v <= 1, "must be in [0, 1]")
FLAG = Check(lambda v: isinstance(v, bool), "must be True or False")
POSITIVE_OR_NONE = Check(lambda v: v is None or POSITIVE.ok(v), "must be a finite number > 0 or None")
ENTROPY = Check(lambda v: v is None or _is_finite(v), "must be a finite number or None (−dim(A))")
GROUP_SIZE = Check(lambda v: v is None or POSITIVE_INT.ok(v),
                   f"must be a positive integer <= {MAX_COUNT} or None (one vmapped batch)")
WIDTHS = Check(lambda v: isinstance(v, tuple) and len(v) > 0 and all(POSITIVE_INT.ok(h) for h in v),
               f"must be a non-empty tuple of positive integers <= {MAX_COUNT}")
WIDTHS_OR_NONE = Check(lambda v: v is None or WIDTHS.ok(v),
                       f"must be a non-empty tuple of positive integers <= {MAX_COUNT}, or None (hidden_sizes)")
ATOMS = Check(_count(2), f"must be an integer in [2, {MAX_COUNT}]")


def option(seed_default: Any, check: Check | None = None) -> Any:
    """A SACConfig field filled from the env's preset, else from `seed_default` (the seed's value).
    check: its rule; leave it out for a Literal field, whose choices are its annotation's arguments."""
    return dataclasses.field(default=UNSET, metadata={"seed_default": seed_default, "check": check})


@dataclasses.dataclass(frozen=True)
class PresetFill:
    """Which fields of a config were filled (not set by the caller), for which env, with what value."""

    env: str
    platform: str  # "cpu" or "gpu": which of the env's presets
    values: tuple[tuple[str, Any], ...]  # (field, value) pairs: a tuple, so that configs pickle and deepcopy


# ----------------------------------------------------------------------------------- the config

PRESETS = ("auto", "cpu", "gpu", "fastsac")  # SACConfig.preset's choices
WIDTH_FIELDS = ("hidden_sizes", "actor_hidden_sizes", "critic_hidden_sizes")  # tuples of layer widths


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Everything that defines a run. Sizes count env steps (transitions), not vectorised steps."""

    # option(seed default, check): the seed's defaults (seed/sac.md §5 "Hyperparameters"), plus the fields
    # a vectorised on-device trainer needs. Presets override these per env; the caller overrides both.
    # The module's docstring says what dataclasses.replace(config, env=...) does.

    env: str = "pendulum"
    """Environment name; `envs.names()` lists them. Picks the preset for the fields not passed."""
    preset: Literal["auto", "cpu", "gpu", "fastsac"] = "auto"
    """Which of the env's presets fills the fields not passed: cpu (sized for a few CPU cores, tuned for
    wall-clock there), gpu (the massively parallel settings), auto: gpu where JAX has an accelerator
    plugin (CUDA, ROCm, TPU) and JAX_PLATFORMS does not say cpu, else cpu. Envs with one preset
    (pendulum, the reaching tasks) use it for both. fastsac: the env's gpu preset under FastSAC's
    large-batch recipe (gpu_sac/envs/recipes.py: C51 critics, bf16, AdamW, 1 024 envs, batch 8 192)."""
    seed: int = option(0, SEED)
    """PRNG seed. With num_seeds = S, agents use seeds seed, seed + 1, ..., seed + S - 1."""
    num_seeds: int = option(1, POSITIVE_INT)
    """Independent agents trained at once in one program (jax.vmap over seeds)."""
    total_steps: int = option(1_000_000, ENV_STEPS)
    """Env steps to train for, over all envs (rounded up to whole chunks, with a warning)."""
    num_envs: int = option(1, POSITIVE_INT)
    """Parallel training envs per agent: one vectorised step collects num_envs transitions."""
    env_group_size: int | None = option(None, GROUP_SIZE)
    """None: step all num_seeds·num_envs training envs as one vmapped batch (best on a GPU). g:
    step them as sequential groups of g (must divide num_seeds·num_envs): on a CPU, MJX envs step
    ~3x faster in groups of 16 (see rollout.batched_step). Changes speed, not what the envs do."""
    num_devices: int = option(1, POSITIVE_INT)
    """Devices the run is spread over: the first num_devices of jax.devices() (all processes' devices
    in a multi-process run, where it must name them all); 1: the default device alone."""
    shard_over: Literal["envs", "seeds"] = option("envs")
    """How num_devices > 1 split the run. envs: data parallel, one result per agent: each device steps
    num_envs/num_devices of each agent's envs, keeps their share of the replay and draws
    batch_size/num_devices rows per update; gradients, α and observation statistics are averaged
    over the devices. seeds: num_seeds/num_devices whole agents per device, no communication."""
    grad_updates_per_step: int = option(1, POSITIVE_INT)
    """Gradient updates per vectorised env step (so num_envs transitions per this many updates)."""
    steps_per_chunk: int = option(10_000, ENV_STEPS)
    """Env steps per chunk: one jitted scan; metrics, eval and checkpoints happen between chunks."""
    episode_length: int = option(1000, POSITIVE_INT)
    """Steps after which an episode is truncated (the critic still bootstraps from its last obs)."""
    gamma: float = option(0.99, UNIT_OPEN)
    """Discount factor γ, in (0, 1]."""
    tau: float = option(0.005, UNIT_OPEN)
    """Polyak rate τ for the target critics, in (0, 1]: target ← τ·critic + (1 − τ)·target."""
    batch_size: int = option(256, POSITIVE_INT)
    """Transitions per gradient update."""
    buffer_size: int = option(1_000_000, POSITIVE_INT)
    """Replay capacity in transitions (per agent); a ring buffer on the device."""
    start_steps: int = option(10_000, ENV_STEPS_OR_ZERO)
    """Env steps with uniform random actions before the stochastic policy acts."""
    min_replay_size: int = option(10_000, POSITIVE_INT)
    """Transitions in the buffer before the first gradient update."""
    actor_lr: float = option(3e-4, POSITIVE)
    """Adam learning rate of the actor."""
    critic_lr: float = option(3e-4, POSITIVE)
    """Adam learning rate of the critics."""
    alpha_lr: float = option(3e-4, POSITIVE)
    """Adam learning rate of log α."""
    hidden_sizes: tuple[int, ...] = option((256, 256), WIDTHS)
    """Hidden layer widths of the actor and of each critic (ReLU MLPs)."""
    log_std_min: float = option(-20.0, FINITE)
    """Lower clamp of the actor's log σ."""
    log_std_max: float = option(2.0, FINITE)
    """Upper clamp of the actor's log σ."""
    init_alpha: float = option(0.2, NONNEGATIVE)
    """Initial temperature α₀ (the fixed α when learn_alpha is False; 0 gives the α = 0 ablation)."""
    learn_alpha: bool = option(True, FLAG)
    """Learn α by dual descent on log α towards target_entropy; False keeps α = init_alpha."""
    target_entropy: float | None = option(None, ENTROPY)
    """Target entropy of the policy; None means −dim(A)."""
    n_critics: int = option(2, POSITIVE_INT)
    """Critics in the ensemble (2 = clipped double Q; 1 = the single-critic ablation)."""
    n_step: int = option(1, POSITIVE_INT)
    """n-step returns: the critic target sums n discounted rewards, then bootstraps."""
    prioritized_replay: bool = option(False, FLAG)
    """Sample transitions in proportion to |TD error|^per_alpha (a sum-tree: O(log capacity) per draw)."""
    per_alpha: float = option(0.6, UNIT)
    """Priority exponent of prioritised replay."""
    per_beta: float = option(0.4, UNIT)
    """Importance-sampling exponent of prioritised replay."""
    per_eps: float = option(1e-6, POSITIVE)
    """Added to |TD error| so that no transition has priority zero."""
    replay_layout: Literal["plain", "compact"] = option("plain")
    """plain: each row holds obs and next_obs (every observation stored twice). compact: each
    observation once; a row's next observation is read from its env's next row, and only the true
    final observations of truncated episodes are kept aside (gpu_sac/replay/compact.py): about half
    the memory. compact needs n_step 1, uniform replay, no HER, buffer_size a multiple of num_envs."""
    her: Literal["off", "future", "final", "episode"] = option("off")
    """Hindsight experience replay (goal envs: point_reach, arm_reach, reacher_goal): of each batch,
    her_k/(her_k + 1) of the transitions are replayed with their goal replaced by one achieved in
    their own episode: at a later step (future), at its last step (final) or at any step (episode);
    their reward is recomputed by the env's reward function. off: no relabelling."""
    her_k: int = option(4, POSITIVE_INT)
    """Relabelled transitions per real one in a batch (the HER paper's k; 4 relabels 80 %)."""
    critic_layer_norm: bool = option(False, FLAG)
    """LayerNorm after each hidden layer of the critics."""
    actor_layer_norm: bool = option(False, FLAG)
    """LayerNorm after each hidden layer of the actor (FastSAC's actor has it)."""
    actor_hidden_sizes: tuple[int, ...] | None = option(None, WIDTHS_OR_NONE)
    """Hidden layer widths of the actor; None: hidden_sizes."""
    critic_hidden_sizes: tuple[int, ...] | None = option(None, WIDTHS_OR_NONE)
    """Hidden layer widths of each critic; None: hidden_sizes."""
    actor_activation: Literal["relu", "silu", "elu", "gelu", "tanh"] = option("relu")
    """Activation of the actor's hidden layers."""
    critic_activation: Literal["relu", "silu", "elu", "gelu", "tanh"] = option("relu")
    """Activation of the critics' hidden layers."""
    log_std_squash: Literal["clip", "tanh"] = option("clip")
    """How the actor's log σ is kept within [log_std_min, log_std_max]: clip (the seed), or tanh, a
    smooth map onto the interval that never cuts the gradient (SpinUp, FastSAC; for narrow bounds)."""
    critic_type: Literal["scalar", "c51"] = option("scalar")
    """scalar: each critic outputs Q, trained on the squared TD error (the seed). c51: each critic
    outputs a categorical distribution of Q over num_atoms atoms on [v_min, v_max], trained by
    cross-entropy to the projected soft target (FastTD3, FastSAC); the actor maximises its mean."""
    num_atoms: int = option(101, ATOMS)
    """Atoms of the c51 critic's support."""
    v_min: float = option(-10.0, FINITE)
    """Lowest atom of the c51 support (in units of reward_scale·return)."""
    v_max: float = option(10.0, FINITE)
    """Highest atom of the c51 support."""
    target_q: Literal["min", "mean", "independent"] = option("min")
    """How the critic target combines the target critics: min (clipped double Q; for c51, per row the
    distribution with the lowest mean), mean, or independent (each critic bootstraps from its own
    target critic, as FastSAC does)."""
    weight_decay: float = option(0.0, NONNEGATIVE)
    """Decoupled weight decay of the actor's and critics' optimisers (AdamW); 0: Adam."""
    compute_dtype: Literal["float32", "bfloat16"] = option("float32")
    """Dtype of the networks' hidden layers: bfloat16 for mixed precision (parameters, optimiser
    state, the output heads and the losses stay float32)."""
    reward_scale: float = option(1.0, POSITIVE)
    """Rewards are multiplied by this before they reach the critic."""
    normalize_observations: bool = option(False, FLAG)
    """Normalise observations with running mean and variance (kept in the train state)."""
    max_grad_norm: float | None = option(None, POSITIVE_OR_NONE)
    """Clip each network's gradient to this global norm; None: no clipping."""
    policy_delay: int = option(1, POSITIVE_INT)
    """Update the actor and α on every policy_delay-th gradient update (1: every update)."""
    alpha_min: float | None = option(None, POSITIVE_OR_NONE)
    """Lower bound on α where it is used; None: unbounded."""
    alpha_max: float | None = option(None, POSITIVE_OR_NONE)
    """Upper bound on α where it is used; None: unbounded."""
    actor_q: Literal["min", "mean"] = option("min")
    """How the actor loss combines the critics: their min (SAC) or their mean."""
    lr_schedule: Literal["constant", "linear", "cosine"] = option("constant")
    """Learning-rate schedule over the run's gradient updates (all three optimisers)."""
    deterministic_policy: bool = option(False, FLAG)
    """Ablation: the actor is tanh(mean), with no noise and no entropy term."""
    eval_episodes: int = option(10, COUNT)
    """Deterministic evaluation episodes after each chunk (0: no evaluation)."""
    brax_backend: Literal["mjx", "generalized", "positional", "spring"] = option("mjx")
    """Physics pipeline of Brax envs."""
    playground_impl: Literal["auto", "jax", "warp"] = option("auto")
    """MuJoCo Playground physics: MJX in JAX, or MuJoCo Warp (needs warp-lang: pip install -e '.[warp]');
    auto: Warp on a GPU where warp-lang imports, MJX elsewhere (gpu_sac/envs/physics.py; the run says which)."""
    warp_graph_mode: Literal["auto", "warp", "staged", "staged_ex", "jax", "none"] = option("auto")
    """MuJoCo Warp's CUDA-graph mode on a GPU (warp.JaxCallableGraphMode): auto is staged (WARP_STAGED): XLA
    moves a donated scan's buffers, and GraphMode.WARP would capture a new graph for each new set of
    addresses (gpu_sac/envs/physics.py). Ignored on a CPU and by MJX."""
    domain_randomization: bool = option(False, FLAG)
    """Playground locomotion envs: each episode in a model drawn by Playground's domain randomizer for
    the env (floor and joint friction, masses, ...; gpu_sac/envs/domain_randomization.py)."""
    mass_scale: float = option(1.0, POSITIVE)
    """Changed dynamics (Brax envs): every body's mass and inertia times this."""
    friction_scale: float = option(1.0, POSITIVE)
    """Changed dynamics (Brax envs): every contact friction coefficient times this."""
    actuator_scale: float = option(1.0, POSITIVE)
    """Changed dynamics (Brax envs): every actuator's gear (its force per unit of action) times this."""

    # Which fields were filled from the preset or the seed's defaults (not set by the caller): lets a
    # dataclasses.replace that changes env refill them. An InitVar, so it is no field (not in
    # dataclasses.fields, repr, ==, hash or to_dict); replace passes it on because __post_init__ keeps it
    # on the instance; hidden from tyro.
    _preset_fill: dataclasses.InitVar[Suppress[PresetFill | None]] = None

    def __post_init__(self, _preset_fill: PresetFill | None) -> None:
        _check_env_name(self.env)
        if not isinstance(self.preset, str) or self.preset not in PRESETS:
            _fail("preset", self.preset, f"must be one of {', '.join(map(repr, PRESETS))}")
        from gpu_sac import envs

        for name in SEED_DEFAULTS:
            object.__setattr__(self, name, _plain(getattr(self, name)))
        for name in WIDTH_FIELDS:  # JSON and some callers give lists
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        old = _preset_fill
        # Fields that still hold the value filled in for the config this one was replaced from.
        filled = {} if old is None else {
            name: value for name, value in old.values if _same(getattr(self, name), value)}
        platform = preset_platform(self.preset)
        if old is not None and (old.env, old.platform) != (self.env, platform):
            for name in filled:
                object.__setattr__(self, name, UNSET)
            filled = {}
        preset = envs.preset(self.env, platform)
        for name, seed_default in SEED_DEFAULTS.items():
            if getattr(self, name) is UNSET:
                filled[name] = preset.get(name, seed_default)
                object.__setattr__(self, name, filled[name])
        sizes_ok = all(POSITIVE_INT.ok(getattr(self, n)) for n in ("num_seeds", "num_envs", "num_devices"))
        if filled.get("env_group_size") is not None and sizes_ok:  # else validate names the bad size
            # A preset's group size (CPU presets step MJX envs in groups of 16) shrinks to one that divides
            # the envs on a device, so that `--num-envs 4` alone runs; a group size the caller sets is
            # checked as it is.
            envs_per_device = max(1, self.num_seeds * self.num_envs // self.num_devices)
            filled["env_group_size"] = math.gcd(filled["env_group_size"], envs_per_device)
            object.__setattr__(self, "env_group_size", filled["env_group_size"])
        object.__setattr__(self, "_preset_fill", PresetFill(self.env, platform, tuple(filled.items())))
        validate(self)

    # Derived sizes, computed in one place so that the trainer and the CLI agree.
    @property
    def iterations_per_chunk(self) -> int:
        """Vectorised steps in one chunk (steps_per_chunk rounded up to a multiple of num_envs)."""
        return -(-self.steps_per_chunk // self.num_envs)

    @property
    def num_chunks(self) -> int:
        """Chunks in the run: total_steps rounded up to whole chunks."""
        return -(-self.total_steps // (self.iterations_per_chunk * self.num_envs))

    @property
    def trained_steps(self) -> int:
        """Env steps per agent that the run actually takes."""
        return self.num_chunks * self.iterations_per_chunk * self.num_envs

    @property
    def first_update_iteration(self) -> int:
        """Index of the first vectorised step that ends with gradient updates: the first whose
        transitions bring the buffer to min_replay_size. With n-step returns the first n − 1 steps
        insert nothing (no n-step transition is complete yet), so learning starts n − 1 steps later."""
        return -(-self.min_replay_size // self.num_envs) - 1 + (self.n_step - 1)

    def updates_after(self, iterations: int) -> int:
        """Gradient updates per agent after the first `iterations` vectorised steps of a run (one resumed
        without its replay buffer refills it first, so it updates later)."""
        return max(0, iterations - self.first_update_iteration) * self.grad_updates_per_step

    @property
    def total_updates(self) -> int:
        """Gradient updates in the run (the horizon of the learning-rate schedules)."""
        return self.updates_after(self.num_chunks * self.iterations_per_chunk)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of every field."""
        out = dataclasses.asdict(self)
        for name in WIDTH_FIELDS:
            out[name] = None if out[name] is None else list(out[name])
        return out


def preset_platform(preset: str) -> str:
    """The env preset that SACConfig.preset picks: "cpu", "gpu" or a recipe ("fastsac"). "auto" reads JAX_PLATFORMS (or
    jax_platforms) where it is set, else whether an accelerator plugin of JAX (CUDA, ROCm, TPU: its
    "jax_plugins" entry points) is installed. It does not ask JAX for its backend: that would start
    JAX's runtime, and a multi-process run must call jax.distributed.initialize before that."""
    if preset != "auto":
        return preset
    import importlib.metadata
    import os

    import jax

    platforms = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms or ""
    if platforms:
        return "cpu" if platforms.split(",")[0].strip().lower() == "cpu" else "gpu"
    return "gpu" if importlib.metadata.entry_points(group="jax_plugins") else "cpu"


def _plain(value: Any) -> Any:
    """A numpy scalar (np.int64(4), np.float32(0.5), np.bool_) as the Python value it holds, in a
    tuple or list too, so that the checks and config.json see plain ints, floats and bools. Arrays
    are left as they are: the field's check refuses them."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


def _same(a: Any, b: Any) -> bool:
    """a is the very value b: equal and of one type (so 1 is not 1.0 and True is not 1)."""
    return type(a) is type(b) and a == b


# Read from the declarations above: the seed's default of every field but env, and each field's check.
SEED_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {f.name: f.metadata["seed_default"] for f in dataclasses.fields(SACConfig) if "seed_default" in f.metadata}
)


def _field_checks() -> dict[str, Check]:
    hints = typing.get_type_hints(SACConfig)
    checks = {}
    for name in SEED_DEFAULTS:
        check = SACConfig.__dataclass_fields__[name].metadata["check"]
        if check is None:
            if typing.get_origin(hints[name]) is not Literal:
                raise TypeError(f"SACConfig.{name} needs a check: only a Literal field's is read from its type")
            choices = typing.get_args(hints[name])
            check = Check(lambda v, choices=choices: v in choices, f"must be one of {', '.join(choices)}")
        checks[name] = check
    return checks


FIELD_CHECKS: Mapping[str, Check] = MappingProxyType(_field_checks())


# ----------------------------------------------------------------------------------- validation


def _check_env_name(name: Any) -> None:
    from gpu_sac import envs  # local: envs imports brax/playground lazily, and gpu_sac must import fast

    if not isinstance(name, str) or name not in envs.names():
        raise ConfigError(
            f"env={name!r} is not a known environment; choose one of: {', '.join(envs.names())}"
        )


def _fail(field: str, value: Any, allowed: str) -> None:
    shown = " ".join(repr(value).split())  # an array's repr spans lines: the message stays one
    if len(shown) > 80:
        shown = shown[:60] + " ... " + shown[-15:]
    raise ConfigError(f"{field}={shown} is invalid: {allowed}")


def validate(config: SACConfig) -> None:
    """Raise ConfigError for the first field that cannot run, before anything is compiled: each field
    on its own (FIELD_CHECKS, in declaration order), then the relations between fields."""
    for name, check in FIELD_CHECKS.items():
        value = getattr(config, name)
        try:
            ok = bool(check.ok(value))
        except Exception:  # noqa: BLE001 - an array, or a type no check expects: the value is refused by name
            ok = False
        if not ok:
            _fail(name, value, check.allowed)
    _check_relations(config)


def _check_relations(c: SACConfig) -> None:
    """The rules that involve several fields (each field is already valid on its own)."""
    if c.seed + c.num_seeds - 1 > MAX_SEED:
        _fail("seed", c.seed, f"must be <= {MAX_SEED} - (num_seeds - 1) = {MAX_SEED - c.num_seeds + 1}: agent s "
              "uses seed + s, a 32-bit PRNG seed")
    if c.log_std_min >= c.log_std_max:
        _fail("log_std_min", c.log_std_min, f"must be finite and below log_std_max={c.log_std_max}")
    if c.v_min >= c.v_max:
        _fail("v_min", c.v_min, f"must be below v_max={c.v_max}")
    if c.learn_alpha and c.init_alpha == 0:
        _fail("init_alpha", c.init_alpha, "must be > 0 when learn_alpha is True (α is learned as log α)")
    if c.alpha_min is not None and c.alpha_max is not None and c.alpha_min > c.alpha_max:
        _fail("alpha_min", c.alpha_min, f"must be <= alpha_max={c.alpha_max}")
    low = 0.0 if c.alpha_min is None else c.alpha_min
    high = math.inf if c.alpha_max is None else c.alpha_max
    if not low <= c.init_alpha <= high:
        _fail("init_alpha", c.init_alpha,
              f"must be within the α bounds alpha_min={c.alpha_min}, alpha_max={c.alpha_max} (α stays within "
              "them wherever it is used: set init_alpha inside them, or widen them)")
    if c.deterministic_policy and c.learn_alpha:
        _fail("deterministic_policy", True, "needs learn_alpha=False (a deterministic policy has no entropy)")
    _check_devices(c)
    _check_env_options(c)
    _check_compact_replay(c)
    _check_her(c)
    g, D = c.env_group_size, c.num_devices
    if g is not None and (c.num_seeds * c.num_envs // D) % g:
        where = "num_seeds·num_envs" + ("/num_devices" if D > 1 else "")
        _fail("env_group_size", g, f"must divide {where}={c.num_seeds * c.num_envs // D} (the envs on one device)")
    if c.buffer_size < c.num_envs:
        _fail("buffer_size", c.buffer_size, f"must be >= num_envs={c.num_envs} (one vectorised step must fit)")
    if c.min_replay_size > c.buffer_size:
        _fail("min_replay_size", c.min_replay_size, f"must be <= buffer_size={c.buffer_size}")
    if c.batch_size > c.min_replay_size:
        _fail("batch_size", c.batch_size,
              f"must be <= min_replay_size={c.min_replay_size} (the first batch is drawn at that size)")
    if -(-c.start_steps // c.num_envs) > MAX_COUNT:
        _fail("start_steps", c.start_steps, f"needs {-(-c.start_steps // c.num_envs)} vectorised steps of random "
              f"actions; the device counts them in int32, at most {MAX_COUNT} (raise num_envs)")
    iterations = c.num_chunks * c.iterations_per_chunk
    if iterations > MAX_COUNT:
        _fail("total_steps", c.total_steps,
              f"needs {iterations} vectorised steps; the device counts them in int32 (raise num_envs)")
    if c.total_updates > MAX_COUNT:
        _fail("grad_updates_per_step", c.grad_updates_per_step,
              f"gives {c.total_updates} updates in the run; optax counts updates in int32, at most {MAX_COUNT}")


def _check_env_options(c: SACConfig) -> None:
    """An env option set away from its default must be one that the env's family takes."""
    from gpu_sac import envs

    takes = envs.spec(c.env).options
    for name in ("mass_scale", "friction_scale", "actuator_scale"):
        if getattr(c, name) != 1.0 and name not in takes:
            _fail(name, getattr(c, name), f"must be 1.0 for env={c.env!r} (only Brax envs take it)")
    if c.domain_randomization and "domain_randomization" not in takes:
        _fail("domain_randomization", True, f"must be False for env={c.env!r} (only Playground's locomotion envs "
              "take it)")


def _require_seed_defaults(*rules: tuple[str, Any, str]) -> None:
    """Fail on the first (field, value, allowed) whose value is not the field's seed default."""
    for name, value, allowed in rules:
        if value != SEED_DEFAULTS[name]:
            _fail(name, value, allowed)


def _check_compact_replay(c: SACConfig) -> None:
    """The compact layout reads a row's next observation from its env's next row (one-step, uniform)."""
    if c.replay_layout != "compact":
        return
    _require_seed_defaults(
        ("n_step", c.n_step, "must be 1 with replay_layout='compact' (a row's successor is one step later)"),
        ("prioritized_replay", c.prioritized_replay, "must be False with replay_layout='compact'"),
        ("her", c.her, "must be 'off' with replay_layout='compact'"),
    )
    if c.buffer_size % c.num_envs:
        _fail("buffer_size", c.buffer_size, f"must be a multiple of num_envs={c.num_envs} with replay_layout='compact'")
    if c.min_replay_size <= c.num_envs:
        _fail("min_replay_size", c.min_replay_size, f"must be > num_envs={c.num_envs} with replay_layout='compact' "
              "(the newest vectorised step is not drawn until its successor is in)")


def _check_her(c: SACConfig) -> None:
    """Hindsight relabelling needs a goal env, one-step transitions, uniform replay, one device, and a
    ring that keeps each env's episodes whole (see gpu_sac/replay/her.py)."""
    if c.her == "off":
        return
    from gpu_sac import envs

    spec = envs.spec(c.env)
    if not spec.goal and spec.family != "custom":
        goal_envs = ", ".join(n for n in envs.names() if envs.spec(n).goal)
        _fail("her", c.her, f"needs a goal-conditioned env ({goal_envs}, or env='custom' with a goal env); "
              f"{c.env!r} has no goals (set her='off')")
    _require_seed_defaults(
        ("n_step", c.n_step, "must be 1 with her (a relabelled reward is one step's)"),
        ("prioritized_replay", c.prioritized_replay, "must be False with her (HER draws rows uniformly)"),
        ("num_devices", c.num_devices, "must be 1 with her (not yet built for several devices)"),
    )
    if c.buffer_size % c.num_envs:
        _fail("buffer_size", c.buffer_size, f"must be a multiple of num_envs={c.num_envs} with her "
              "(each env's transitions keep their own rows of the ring)")
    if c.buffer_size < c.num_envs * c.episode_length:
        _fail("buffer_size", c.buffer_size, f"must be >= num_envs·episode_length={c.num_envs * c.episode_length} "
              "with her (the ring must hold a whole episode of every env)")


def _check_devices(c: SACConfig) -> None:
    """Each device must get an equal share of what shard_over splits (whether that many devices exist
    is checked when the program is built: a config does not start JAX)."""
    D = c.num_devices
    if D == 1:
        return
    if c.playground_impl == "warp":
        # MuJoCo Warp keeps contact buffers shared by all the worlds of a call (gpu_sac/envs/physics.py), which the
        # mesh's per-device split of the env states has no place for; and its WARP_STAGED graphs fail under
        # sharding (mujoco#3191). playground_impl='auto' takes MJX on several devices.
        _fail("playground_impl", c.playground_impl, f"must be 'jax' or 'auto' with num_devices={D} (MuJoCo Warp "
              "runs on one device here: its contact buffers are shared by all worlds, not split per device)")
    if c.shard_over == "seeds":
        if c.num_seeds % D:
            _fail("num_seeds", c.num_seeds, f"must be a multiple of num_devices={D} with shard_over='seeds'")
        return
    for name in ("num_envs", "batch_size", "buffer_size"):
        if getattr(c, name) % D:
            _fail(name, getattr(c, name), f"must be a multiple of num_devices={D} with shard_over='envs' "
                  "(each device keeps an equal share)")
