"""gpu_sac: Soft Actor-Critic in JAX with environments, replay buffer and updates fused on the device.

    from gpu_sac import SACConfig, train
    result = train(SACConfig(env="pendulum", total_steps=20_000, seed=0))
    result.act(obs, deterministic=True)

Experiments with a run directory (logs, checkpoints, exact resume, exported policy, plot, video):

    from gpu_sac import RunOptions, load_policy, resume_experiment, run_experiment
    run_experiment(SACConfig(env="pendulum"), RunOptions(run_dir="runs/pendulum"))
    resume_experiment("runs/pendulum", total_steps=40_000)
    act = load_policy("runs/pendulum")      # jittable, deterministic by default

Importing gpu_sac sets one environment variable, MUJOCO_GL, and only when it is unset on a Linux machine
without a display and an offscreen GL library (EGL, else OSMesa) loads: MuJoCo reads it once, when it is
first imported (see gpu_sac.outputs.video.setup_gl). Training never needs rendering.
"""

from gpu_sac.outputs.video import setup_gl as _setup_gl

_setup_gl()  # before anything imports MuJoCo

from gpu_sac.config import ConfigError, SACConfig  # noqa: E402
from gpu_sac.outputs.export import load_policy  # noqa: E402
from gpu_sac.run.experiment import RunOptions, resume_experiment, run_experiment  # noqa: E402
from gpu_sac.store.transfer import InitFrom  # noqa: E402
from gpu_sac.training.memory import MemoryBudgetError  # noqa: E402
from gpu_sac.training.train import TrainingDiverged, TrainResult, TrainState, train  # noqa: E402

__all__ = [
    "ConfigError",
    "InitFrom",
    "MemoryBudgetError",
    "RunOptions",
    "SACConfig",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "load_policy",
    "resume_experiment",
    "run_experiment",
    "train",
]
__version__ = "0.1.0"
