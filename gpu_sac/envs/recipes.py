"""Named recipes: sets of SACConfig fields that work together, for any env (`--preset fastsac`).

FASTSAC is the large-batch, massively parallel recipe that FastTD3 and FastSAC train Playground's
locomotion envs with; every value names its source:
- FastSAC as released in holosoma (amazon-far/holosoma, src/holosoma/holosoma/config_values/algo.py,
  `fast_sac`, and agents/fast_sac/fast_sac.py for the networks and the loss);
- FastTD3 (younggyoseo/FastTD3, fast_td3/hyperparams.py, `MuJoCoPlaygroundArgs` and the Go1/G1 args).
It is sized for a GPU (1 024 envs, batch 8 192); on a CPU it runs, slowly.
"""

from __future__ import annotations

from typing import Any

FASTSAC: dict[str, Any] = dict(
    num_envs=1024,  # FastTD3 MuJoCoPlaygroundArgs.num_envs
    env_group_size=None,  # one vmapped batch (a GPU)
    buffer_size=1024 * 1024,  # FastSAC buffer_size=1024 steps per env, x 1 024 envs
    batch_size=8192,  # FastSAC batch_size
    grad_updates_per_step=8,  # FastSAC num_updates (FastTD3's Go1 args: 8 too)
    policy_delay=4,  # FastSAC policy_frequency
    steps_per_chunk=1024 * 100,  # 100 vectorised steps between evaluations and checkpoints
    start_steps=1024 * 10,  # FastSAC learning_starts=10 vectorised steps (random actions until then)
    min_replay_size=1024 * 10,
    gamma=0.97,  # FastSAC and FastTD3 (Playground)
    tau=0.125,  # FastSAC (FastTD3: 0.1)
    actor_lr=3e-4,  # FastSAC actor/critic/alpha learning rates
    critic_lr=3e-4,
    alpha_lr=3e-4,
    weight_decay=0.001,  # FastSAC's AdamW (FastTD3: 0.1)
    critic_type="c51",  # FastSAC/FastTD3 DistributionalQNetwork
    num_atoms=101,  # FastSAC num_atoms
    v_min=-20.0,  # FastSAC v_min/v_max (FastTD3 Playground: ±10)
    v_max=20.0,
    target_q="independent",  # FastSAC: each critic projects its own target critic's distribution
    actor_q="mean",  # FastSAC: the actor maximises the critics' mean value
    n_critics=2,  # FastSAC num_q_networks
    critic_hidden_sizes=(768, 384, 192),  # FastSAC critic_hidden_dim=768, halved twice
    actor_hidden_sizes=(512, 256, 128),  # FastSAC actor_hidden_dim=512, halved twice
    critic_activation="silu",  # FastSAC nn.SiLU
    actor_activation="silu",
    critic_layer_norm=True,  # FastSAC use_layer_norm
    actor_layer_norm=True,
    compute_dtype="bfloat16",  # FastSAC amp_dtype="bf16"
    normalize_observations=True,  # FastSAC obs_normalization
    init_alpha=0.001,  # FastSAC alpha_init
    target_entropy=0.0,  # FastSAC target_entropy_ratio=0.0 (of dim(A))
    log_std_min=-5.0,  # FastSAC log_std_min/max, squashed by tanh (SpinUp style)
    log_std_max=0.0,
    log_std_squash="tanh",
    max_grad_norm=None,  # FastSAC max_grad_norm=0.0: no clipping
    episode_length=1000,  # Playground's locomotion and DM Control episodes
    # Ours, not FastSAC's: each observation stored once (gpu_sac/replay/compact.py), ~half the replay
    # memory, the first wall these trainers hit with thousands of envs.
    replay_layout="compact",
)

RECIPES: dict[str, dict[str, Any]] = {"fastsac": FASTSAC}
