"""gpu_sac: Soft Actor-Critic in JAX with environments, replay buffer and updates fused on the device.

    from gpu_sac import SACConfig, train
    result = train(SACConfig(env="pendulum", total_steps=20_000, seed=0))
    result.act(obs, deterministic=True)
"""

from gpu_sac.config import ConfigError, SACConfig
from gpu_sac.memory import MemoryBudgetError
from gpu_sac.train import TrainingDiverged, TrainResult, TrainState, train

__all__ = [
    "ConfigError",
    "MemoryBudgetError",
    "SACConfig",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "train",
]
__version__ = "0.1.0"
