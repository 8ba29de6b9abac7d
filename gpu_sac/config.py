"""SACConfig: the frozen, validated configuration of one training run.

`SACConfig(env=name, **fields)` takes the env's preset (`envs.preset`, from the env family's module) for every field the
caller does not pass, and the seed's defaults (`SEED_DEFAULTS`, from `seed/sac.md` §5) for every
field the preset does not set. The config is validated once, here, before anything is compiled:
a bad value raises `ConfigError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal


class ConfigError(ValueError):
    """A config value that cannot run: the message names the field, the value and what is allowed."""


class _Unset:
    """Marks a field the caller did not pass, so that the preset or the seed's default fills it."""

    def __repr__(self) -> str:
        return "<preset>"


UNSET: Any = _Unset()

# The seed's defaults (seed/sac.md §5 "Hyperparameters"), plus the fields a vectorised on-device
# trainer needs. Presets override these per env; the caller overrides both.
SEED_DEFAULTS: dict[str, Any] = dict(
    seed=0,
    num_seeds=1,
    total_steps=1_000_000,
    num_envs=1,
    env_group_size=None,
    grad_updates_per_step=1,
    steps_per_chunk=10_000,
    episode_length=1000,
    gamma=0.99,
    tau=0.005,
    batch_size=256,
    buffer_size=1_000_000,
    start_steps=10_000,
    min_replay_size=10_000,
    actor_lr=3e-4,
    critic_lr=3e-4,
    alpha_lr=3e-4,
    hidden_sizes=(256, 256),
    log_std_min=-20.0,
    log_std_max=2.0,
    init_alpha=0.2,
    learn_alpha=True,
    target_entropy=None,
    n_critics=2,
    n_step=1,
    prioritized_replay=False,
    per_alpha=0.6,
    per_beta=0.4,
    per_eps=1e-6,
    critic_layer_norm=False,
    reward_scale=1.0,
    normalize_observations=False,
    max_grad_norm=None,
    policy_delay=1,
    alpha_min=None,
    alpha_max=None,
    actor_q="min",
    lr_schedule="constant",
    deterministic_policy=False,
    eval_episodes=10,
    brax_backend="mjx",
    playground_impl="jax",
)

# The device counts vectorised steps, and optax counts updates, in int32.
MAX_COUNT = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Everything that defines a run. Sizes count env steps (transitions), not vectorised steps."""

    env: str = "pendulum"
    """Environment name; `envs.names()` lists them. Picks the preset for the fields not passed."""
    seed: int = UNSET
    """PRNG seed. With num_seeds = S, agents use seeds seed, seed + 1, ..., seed + S - 1."""
    num_seeds: int = UNSET
    """Independent agents trained at once in one program (jax.vmap over seeds)."""
    total_steps: int = UNSET
    """Env steps to train for, over all envs (rounded up to whole chunks, with a warning)."""
    num_envs: int = UNSET
    """Parallel training envs per agent: one vectorised step collects num_envs transitions."""
    env_group_size: int | None = UNSET
    """None: step all num_seeds·num_envs training envs as one vmapped batch (best on a GPU). g:
    step them as sequential groups of g (must divide num_seeds·num_envs): on a CPU, MJX envs step
    ~3x faster in groups of 16 (see rollout.batched_step). Changes speed, not what the envs do."""
    grad_updates_per_step: int = UNSET
    """Gradient updates per vectorised env step (so num_envs transitions per this many updates)."""
    steps_per_chunk: int = UNSET
    """Env steps per chunk: one jitted scan; metrics, eval and checkpoints happen between chunks."""
    episode_length: int = UNSET
    """Steps after which an episode is truncated (the critic still bootstraps from its last obs)."""
    gamma: float = UNSET
    """Discount factor γ, in (0, 1]."""
    tau: float = UNSET
    """Polyak rate τ for the target critics, in (0, 1]: target ← τ·critic + (1 − τ)·target."""
    batch_size: int = UNSET
    """Transitions per gradient update."""
    buffer_size: int = UNSET
    """Replay capacity in transitions (per agent); a ring buffer on the device."""
    start_steps: int = UNSET
    """Env steps with uniform random actions before the stochastic policy acts."""
    min_replay_size: int = UNSET
    """Transitions in the buffer before the first gradient update."""
    actor_lr: float = UNSET
    """Adam learning rate of the actor."""
    critic_lr: float = UNSET
    """Adam learning rate of the critics."""
    alpha_lr: float = UNSET
    """Adam learning rate of log α."""
    hidden_sizes: tuple[int, ...] = UNSET
    """Hidden layer widths of the actor and of each critic (ReLU MLPs)."""
    log_std_min: float = UNSET
    """Lower clamp of the actor's log σ."""
    log_std_max: float = UNSET
    """Upper clamp of the actor's log σ."""
    init_alpha: float = UNSET
    """Initial temperature α₀ (the fixed α when learn_alpha is False; 0 gives the α = 0 ablation)."""
    learn_alpha: bool = UNSET
    """Learn α by dual descent on log α towards target_entropy; False keeps α = init_alpha."""
    target_entropy: float | None = UNSET
    """Target entropy of the policy; None means −dim(A)."""
    n_critics: int = UNSET
    """Critics in the ensemble (2 = clipped double Q; 1 = the single-critic ablation)."""
    n_step: int = UNSET
    """n-step returns: the critic target sums n discounted rewards, then bootstraps."""
    prioritized_replay: bool = UNSET
    """Sample transitions in proportion to |TD error|^per_alpha (O(capacity) per batch)."""
    per_alpha: float = UNSET
    """Priority exponent of prioritised replay."""
    per_beta: float = UNSET
    """Importance-sampling exponent of prioritised replay."""
    per_eps: float = UNSET
    """Added to |TD error| so that no transition has priority zero."""
    critic_layer_norm: bool = UNSET
    """LayerNorm after each hidden layer of the critics."""
    reward_scale: float = UNSET
    """Rewards are multiplied by this before they reach the critic."""
    normalize_observations: bool = UNSET
    """Normalise observations with running mean and variance (kept in the train state)."""
    max_grad_norm: float | None = UNSET
    """Clip each network's gradient to this global norm; None: no clipping."""
    policy_delay: int = UNSET
    """Update the actor and α on every policy_delay-th gradient update (1: every update)."""
    alpha_min: float | None = UNSET
    """Lower bound on α where it is used; None: unbounded."""
    alpha_max: float | None = UNSET
    """Upper bound on α where it is used; None: unbounded."""
    actor_q: Literal["min", "mean"] = UNSET
    """How the actor loss combines the critics: their min (SAC) or their mean."""
    lr_schedule: Literal["constant", "linear", "cosine"] = UNSET
    """Learning-rate schedule over the run's gradient updates (all three optimisers)."""
    deterministic_policy: bool = UNSET
    """Ablation: the actor is tanh(mean), with no noise and no entropy term."""
    eval_episodes: int = UNSET
    """Deterministic evaluation episodes after each chunk (0: no evaluation)."""
    brax_backend: Literal["mjx", "generalized", "positional", "spring"] = UNSET
    """Physics pipeline of Brax envs."""
    playground_impl: Literal["jax", "warp"] = UNSET
    """MuJoCo Playground implementation: MJX in JAX, or MuJoCo Warp (needs warp-lang)."""

    def __post_init__(self) -> None:
        _check_env_name(self.env)
        import envs

        preset = envs.preset(self.env)
        for field in dataclasses.fields(self):
            if getattr(self, field.name) is UNSET:
                value = preset.get(field.name, SEED_DEFAULTS.get(field.name))
                object.__setattr__(self, field.name, value)
        if isinstance(self.hidden_sizes, list):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
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
        transitions bring the buffer to min_replay_size."""
        return -(-self.min_replay_size // self.num_envs) - 1

    def updates_after(self, iterations: int) -> int:
        """Gradient updates per agent after `iterations` vectorised steps."""
        return max(0, iterations - self.first_update_iteration) * self.grad_updates_per_step

    @property
    def total_updates(self) -> int:
        """Gradient updates in the run (the horizon of the learning-rate schedules)."""
        return self.updates_after(self.num_chunks * self.iterations_per_chunk)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of every field."""
        out = dataclasses.asdict(self)
        out["hidden_sizes"] = list(self.hidden_sizes)
        return out


def _check_env_name(name: Any) -> None:
    import envs  # local: envs imports brax/playground lazily, and gpu_sac must import fast

    if not isinstance(name, str) or name not in envs.names():
        raise ConfigError(
            f"env={name!r} is not a known environment; choose one of: {', '.join(envs.names())}"
        )


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field}={value!r} is invalid: {allowed}")


def validate(config: SACConfig) -> None:
    """Raise ConfigError for the first field that cannot run, before anything is compiled."""
    c = config
    positive_ints = (
        "num_seeds", "total_steps", "num_envs", "grad_updates_per_step", "steps_per_chunk",
        "episode_length", "batch_size", "buffer_size", "min_replay_size", "n_critics", "n_step",
        "policy_delay",
    )
    for name in positive_ints:
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            _fail(name, value, "must be a positive integer")
    for name in ("seed", "start_steps", "eval_episodes"):
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _fail(name, value, "must be an integer >= 0")
    for name in ("actor_lr", "critic_lr", "alpha_lr", "reward_scale", "per_eps"):
        value = getattr(c, name)
        if not _is_real(value) or not math.isfinite(value) or value <= 0:
            _fail(name, value, "must be a finite number > 0")
    for name in ("gamma", "tau"):
        value = getattr(c, name)
        if not _is_real(value) or not (0 < value <= 1):
            _fail(name, value, "must be in (0, 1]")
    for name in ("per_alpha", "per_beta"):
        value = getattr(c, name)
        if not _is_real(value) or not (0 <= value <= 1):
            _fail(name, value, "must be in [0, 1]")
    if not _is_real(c.init_alpha) or not math.isfinite(c.init_alpha) or c.init_alpha < 0:
        _fail("init_alpha", c.init_alpha, "must be a finite number >= 0")
    if c.learn_alpha and c.init_alpha == 0:
        _fail("init_alpha", c.init_alpha, "must be > 0 when learn_alpha is True (α is learned as log α)")
    if c.target_entropy is not None and (not _is_real(c.target_entropy) or not math.isfinite(c.target_entropy)):
        _fail("target_entropy", c.target_entropy, "must be a finite number or None (−dim(A))")
    for name in ("alpha_min", "alpha_max", "max_grad_norm"):
        value = getattr(c, name)
        if value is not None and (not _is_real(value) or not math.isfinite(value) or value <= 0):
            _fail(name, value, "must be a finite number > 0 or None")
    if c.alpha_min is not None and c.alpha_max is not None and c.alpha_min > c.alpha_max:
        _fail("alpha_min", c.alpha_min, f"must be <= alpha_max={c.alpha_max}")
    if not (_is_real(c.log_std_min) and _is_real(c.log_std_max)) or not (
        math.isfinite(c.log_std_min) and math.isfinite(c.log_std_max) and c.log_std_min < c.log_std_max
    ):
        _fail("log_std_min", c.log_std_min, f"must be finite and below log_std_max={c.log_std_max}")
    if not isinstance(c.hidden_sizes, tuple) or not c.hidden_sizes or not all(
        isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in c.hidden_sizes
    ):
        _fail("hidden_sizes", c.hidden_sizes, "must be a non-empty tuple of positive integers")
    for name, allowed in (
        ("actor_q", ("min", "mean")),
        ("lr_schedule", ("constant", "linear", "cosine")),
        ("brax_backend", ("mjx", "generalized", "positional", "spring")),
        ("playground_impl", ("jax", "warp")),
    ):
        if getattr(c, name) not in allowed:
            _fail(name, getattr(c, name), f"must be one of {', '.join(allowed)}")
    for name in ("learn_alpha", "prioritized_replay", "critic_layer_norm", "normalize_observations",
                 "deterministic_policy"):
        if not isinstance(getattr(c, name), bool):
            _fail(name, getattr(c, name), "must be True or False")
    g = c.env_group_size
    if g is not None and (isinstance(g, bool) or not isinstance(g, int) or g <= 0):
        _fail("env_group_size", g, "must be a positive integer or None (one vmapped batch)")
    # Relations between fields.
    if g is not None and (c.num_seeds * c.num_envs) % g:
        _fail("env_group_size", g, f"must divide num_seeds·num_envs={c.num_seeds * c.num_envs}")
    if c.buffer_size < c.num_envs:
        _fail("buffer_size", c.buffer_size, f"must be >= num_envs={c.num_envs} (one vectorised step must fit)")
    if c.min_replay_size > c.buffer_size:
        _fail("min_replay_size", c.min_replay_size, f"must be <= buffer_size={c.buffer_size}")
    if c.batch_size > c.min_replay_size:
        _fail("batch_size", c.batch_size,
              f"must be <= min_replay_size={c.min_replay_size} (the first batch is drawn at that size)")
    if c.deterministic_policy and c.learn_alpha:
        _fail("deterministic_policy", True, "needs learn_alpha=False (a deterministic policy has no entropy)")
    iterations = c.num_chunks * c.iterations_per_chunk
    if iterations > MAX_COUNT:
        _fail("total_steps", c.total_steps,
              f"needs {iterations} vectorised steps; the device counts them in int32 (raise num_envs)")
    if c.total_updates > MAX_COUNT:
        _fail("grad_updates_per_step", c.grad_updates_per_step,
              f"gives {c.total_updates} updates in the run; optax counts updates in int32, at most {MAX_COUNT}")


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
