"""Transfer to changed dynamics (seed §8): a policy pre-trained on the usual cheetah, fine-tuned on a
changed one, against a fresh start on the changed one.

    python -m experiments.transfer                       # CPU budget, ~25 min on 2 cores
    python -m experiments.transfer --preset gpu          # longer runs (a GPU)
    python -m experiments.transfer --render --readme docs/transfer.md   # docs/transfer.md's block from the records

1. pre-train one agent on the env as it is (`pretrain_steps`), in a run directory;
2. fine-tune: `seeds` agents on the changed env (`change`, e.g. mass_scale=1.5), all starting from the
   pre-trained run (`--init-from`: actor, critics, targets, α, observation statistics; fresh
   optimisers and an empty buffer), acting with their policy from the first step;
3. fresh: `seeds` agents on the changed env from scratch, the same config and budget.

The seed's table counts episodes to 80 % of the converged return. At a CPU budget nothing converges,
so the reference is the best mean-over-seeds evaluation either arm reaches within the budget (the
record says so); per seed we give the first evaluation at or above 80 % of it, in episodes
(env steps / episode_length, per agent), env steps and wall-clock seconds from the arm's start,
compile included. JSON: experiments/results/<device>/transfer_<env>.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from experiments import harness  # noqa: E402

# The CPU config: halfcheetah at 16 envs stepped in groups of 16, 8 updates per vectorised step (the
# settings of the CPU benchmark, where gpu_sac reached ~3 000 by 30k steps and ~5 000 by 100k).
CPU = dict(num_envs=16, env_group_size=16, grad_updates_per_step=8, batch_size=256, buffer_size=200_000,
           actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, eval_episodes=5)
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": dict(env="halfcheetah", pretrain_steps=60_000, finetune_steps=30_000, chunk=2_000, seeds=3,
                change=dict(mass_scale=1.5), config=dict(CPU, min_replay_size=5_000, start_steps=5_000)),
    "gpu": dict(env="halfcheetah", pretrain_steps=1_000_000, finetune_steps=200_000, chunk=10_000, seeds=5,
                change=dict(mass_scale=1.5), config=dict(min_replay_size=10_000, start_steps=10_000)),
    # Tests: seconds of training (an MJX compile per arm).
    "smoke": dict(env="halfcheetah", pretrain_steps=64, finetune_steps=64, chunk=32, seeds=2,
                  change=dict(mass_scale=1.5),
                  config=dict(num_envs=4, batch_size=8, buffer_size=256, min_replay_size=16, start_steps=16,
                              hidden_sizes=(16, 16), episode_length=16, eval_episodes=1)),
}


def arm_config(preset: dict[str, Any], steps: int, seeds: int, changed: bool, finetune: bool):
    from gpu_sac import SACConfig

    fields = dict(preset["config"], env=preset["env"], total_steps=steps, steps_per_chunk=preset["chunk"],
                  num_seeds=seeds)
    if changed:
        fields.update(preset["change"])
    if finetune:  # the pre-trained policy acts from the first step; learning starts on a small buffer
        fields.update(start_steps=0, min_replay_size=max(fields["batch_size"], 2 * fields["num_envs"]))
    return SACConfig(**fields)


def run_arm(config, run_dir: Path, init_from: str | None = None) -> dict[str, Any]:
    from gpu_sac import RunOptions, run_experiment

    start = time.perf_counter()
    out = run_experiment(config, RunOptions(run_dir=str(run_dir), progress="lines", video=False, tensorboard=False,
                                            init_from=init_from))
    wall = time.perf_counter() - start
    return {"config": config.to_dict(), "wall_s": wall, "curve": harness.curve(out.history, "eval_return")}


def time_to(arm: dict[str, Any], threshold: float, episode_length: int) -> list[dict[str, Any] | None]:
    """Per seed: the first evaluation at or above threshold (episodes, env steps, wall s), or None."""
    seeds = len(arm["curve"][0]["eval_return"])
    out = []
    for s in range(seeds):
        hit = next((c for c in arm["curve"] if c["eval_return"][s] >= threshold), None)
        out.append(None if hit is None else {"episodes": hit["env_steps"] / episode_length,
                                             "env_steps": hit["env_steps"], "wall_s": hit["wall_s"]})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    harness.add_out_argument(parser)
    harness.add_render_arguments(parser, "transfer")
    args = parser.parse_args(argv)
    if harness.render_if_asked(args, "transfer", render):
        return 0
    preset = PRESETS[args.preset]
    with tempfile.TemporaryDirectory(prefix="gpu_sac_transfer_") as tmp:
        runs = Path(tmp)
        pretrain = run_arm(arm_config(preset, preset["pretrain_steps"], 1, changed=False, finetune=False),
                           runs / "pretrain")
        finetune = run_arm(arm_config(preset, preset["finetune_steps"], preset["seeds"], changed=True, finetune=True),
                           runs / "finetune", init_from=str(runs / "pretrain"))
        fresh = run_arm(arm_config(preset, preset["finetune_steps"], preset["seeds"], changed=True, finetune=False),
                        runs / "fresh")
    means = [sum(c["eval_return"]) / len(c["eval_return"]) for arm in (finetune, fresh) for c in arm["curve"]]
    reference = max(means)
    episode_length = finetune["config"]["episode_length"]
    record = {
        "schema": 1, "preset": args.preset, "env": preset["env"], "change": preset["change"],
        "device": harness.device_info(), "versions": harness.versions(),
        "reference": {"return": reference, "how": "best mean-over-seeds evaluation of either arm within the budget"},
        "threshold": 0.8 * reference,
        "pretrain": pretrain, "finetune": finetune, "fresh": fresh,
        "finetune_time_to_threshold": time_to(finetune, 0.8 * reference, episode_length),
        "fresh_time_to_threshold": time_to(fresh, 0.8 * reference, episode_length),
    }
    suffix = "" if args.preset == "cpu" else f"_{args.preset}"
    path = harness.write_record(harness.record_path(args.out, record["device"], f"transfer_{preset['env']}{suffix}"),
                                record)
    print(f"wrote {path}")
    return 0


def render(out: Path, page_dir: Path = harness.ROOT) -> str:
    """Markdown of every transfer record under `out` (smoke records left out); page_dir: the folder of
    the page it is written into (the record paths are shown from the project root, not linked)."""
    parts = ["<!-- generated by `python -m experiments.transfer --render --readme docs/transfer.md` -->"]
    for path, r in harness.load_records(out, "*/transfer_*.json"):
        if r["preset"] == "smoke":
            continue
        change = ", ".join(f"{k}={v}" for k, v in r["change"].items())
        pre = r["pretrain"]
        parts.append(
            f"\n**{r['env']}, {change}** on {r['device']['name']} (`{path.relative_to(out.parent.parent)}`): "
            f"pre-trained {pre['curve'][-1]['env_steps']:,} steps on the usual env (final eval "
            f"{pre['curve'][-1]['eval_return'][0]:.0f}); then {len(r['finetune_time_to_threshold'])} seeds per arm, "
            f"{r['finetune']['curve'][-1]['env_steps']:,} steps each on the changed env. Threshold: 80 % of "
            f"{r['reference']['return']:.0f} ({r['reference']['how']}) = {r['threshold']:.0f}.\n")
        parts.append("| arm | first eval, after one chunk (mean of seeds) | final eval (mean) | "
                     "episodes to threshold, per seed | wall s to threshold, per seed |")
        parts.append("|---|---|---|---|---|")
        for name in ("finetune", "fresh"):
            arm, hits = r[name], r[f"{name}_time_to_threshold"]
            first, last = (sum(c["eval_return"]) / len(c["eval_return"]) for c in (arm["curve"][0], arm["curve"][-1]))
            eps = ", ".join("not reached" if h is None else f"{h['episodes']:.0f}" for h in hits)
            wall = ", ".join("—" if h is None else f"{h['wall_s']:.0f}" for h in hits)
            parts.append(f"| {'fine-tuned' if name == 'finetune' else 'fresh'} | {first:.0f} | {last:.0f} | {eps} | "
                         f"{wall} |")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())

