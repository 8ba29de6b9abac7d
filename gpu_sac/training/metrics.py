"""The figures of a run, declared once: each history record's keys, what they mean, which are checked
for finiteness after a chunk, and their TensorBoard tags.

`LEARNER` are the means over a chunk's gradient updates that the fused update reports (NaN in a
chunk without updates); `checked` ones stop the run if they become non-finite (`TrainingDiverged`).
"""

from __future__ import annotations

from typing import NamedTuple


class Metric(NamedTuple):
    name: str
    meaning: str
    tag: str | None = None  # TensorBoard tag; None: not logged there
    checked: bool = False  # non-finite stops the run (once the agent has taken an update)


METRICS: tuple[Metric, ...] = (
    Metric("chunk", "index of the chunk (0-based)"),
    Metric("env_steps", "env steps per agent, cumulative"),
    Metric("updates", "gradient updates per agent, cumulative", "perf/updates"),
    Metric("sps", "env steps per second of this chunk, all agents, evaluation excluded", "perf/steps_per_s"),
    Metric("eval_return", "mean undiscounted return of the deterministic policy", "eval/return"),
    Metric("eval_return_std", "std of those evaluation returns", "eval/return_std"),
    Metric("eval_success", "fraction of evaluation episodes that end at their goal (goal envs only)",
           "eval/success_rate"),
    Metric("train_return", "mean return of the training episodes that ended in the chunk", "train/return"),
    Metric("critic_loss", "critic loss, summed over critics", "loss/critic", checked=True),
    Metric("actor_loss", "actor loss", "loss/actor", checked=True),
    Metric("alpha_loss", "temperature loss", "loss/alpha", checked=True),
    Metric("q", "mean Q(s, a) of the critics on replayed batches", "train/q", checked=True),
    Metric("target_q", "mean critic target y", "train/target_q"),
    Metric("entropy", "policy entropy estimate −log π on replayed batches", "train/entropy"),
    Metric("alpha", "temperature α at the end of the chunk", "train/alpha", checked=True),
    Metric("wall_s", "seconds since train() began, compile and evaluation included", "perf/wall_s"),
)
BY_NAME = {m.name: m for m in METRICS}

# What one gradient update reports (means over the chunk's updates go into each record).
LEARNER = tuple(m.name for m in METRICS if m.name in (
    "critic_loss", "actor_loss", "alpha_loss", "q", "target_q", "entropy", "alpha"))
# Per-agent figures of a record: lists with num_seeds > 1.
PER_AGENT = ("eval_return", "eval_return_std", "eval_success", "train_return", *LEARNER)
