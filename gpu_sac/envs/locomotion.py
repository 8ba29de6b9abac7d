"""MuJoCo Playground's locomotion environments (Go1, G1, and the robots whose meshes no package ships).

Each is made with `impl="jax"` (MJX; Playground 0.2.0 defaults them to MuJoCo Warp) and, where it
observes {"state", "privileged_state"}, flattened (gpu_sac/envs/dict_obs.py: the flat env carries `obs_layout`,
the columns the actor and the critic read). Barkour, H1 and Op3 observe one flat array (a history) and
are returned as they are.

Assets: Playground reads robot meshes from Menagerie under its `external_deps` and would `git clone`
all of Menagerie on first load (hanging where GitHub is out of reach). So before loading:
- Go1 and G1: their meshes are fetched on first use from the mjlab wheel on PyPI (gpu_sac/envs/menagerie.py;
  `python -m gpu_sac.envs.menagerie` does it ahead of time, `--from-wheel`/`--from-tgz` offline);
- the others: the robot's Menagerie dir must already be there, else a ValueError says which dir and
  how to place it. Playground's own clone never runs from here.
"""

from __future__ import annotations

from typing import Any

from gpu_sac.envs import recipes

# mujoco_playground.locomotion.ALL_ENVS at playground 0.2.0 (tests check this list against the installed
# registry; kept static so that listing names does not import MuJoCo).
LOCOMOTION_ENVS = (
    "ApolloJoystickFlatTerrain", "BarkourJoystick", "BerkeleyHumanoidJoystickFlatTerrain",
    "BerkeleyHumanoidJoystickRoughTerrain", "G1JoystickFlatTerrain", "G1JoystickRoughTerrain",
    "Go1JoystickFlatTerrain", "Go1JoystickRoughTerrain", "Go1Getup", "Go1Handstand", "Go1Footstand",
    "H1InplaceGaitTracking", "H1JoystickGaitTracking", "Op3Joystick", "SpotFlatTerrainJoystick", "SpotGetup",
    "SpotJoystickGaitTracking", "T1JoystickFlatTerrain", "T1JoystickRoughTerrain",
)

# Name prefix → the Menagerie dir its robot's meshes come from (each env's base.py in Playground).
ROBOT_DIRS = {
    "Apollo": "apptronik_apollo", "Barkour": "google_barkour_vb", "BerkeleyHumanoid": "berkeley_humanoid",
    "G1": "unitree_g1", "Go1": "unitree_go1", "H1": "unitree_h1", "Op3": "robotis_op3",
    "Spot": "boston_dynamics_spot", "T1": "booster_t1",
}
# What Playground reads from that dir: `assets/` (its meshes); Barkour loads Menagerie's scene XML too.
_NEEDS = {"google_barkour_vb": ("assets", "scene_mjx.xml")}

# Playground's episode lengths where they are not 1000 (each env's default_config).
EPISODE_LENGTH = {"Go1Getup": 300, "SpotGetup": 300, "Go1Handstand": 500, "Go1Footstand": 500}

# GPU preset: off-policy locomotion at scale, from FastTD3 (younggyoseo/FastTD3, fast_td3/hyperparams.py:
# MuJoCoPlaygroundArgs, Go1*/G1* args) and holosoma's FastSAC (amazon-far/holosoma,
# src/holosoma/holosoma/config_values/algo.py, `fast_sac`):
#   FastTD3 (Playground): 1024 envs, replay 1024·10 steps per env, batch 32768, γ 0.97, τ 0.1,
#     2 updates per vectorised step (8 for Go1), policy delay 2, obs normalisation, learning starts
#     after 10 vectorised steps, 50 000 vectorised steps for Go1 (100 000 for G1, T1), lr 3e-4,
#     actor 512-256-128, critic 1024-512-256, C51 critic (101 atoms), bf16 AMP, AdamW (wd 0.1).
#   holosoma FastSAC: replay 1024 steps per env (4096 envs in its experiments), batch 8192, γ 0.97,
#     τ 0.125, 8 updates, policy delay 4, α₀ 0.001, target entropy 0, log σ in [−5, 0], LayerNorm
#     critics, obs normalisation, lr 3e-4 (all three), actor 512 wide, critic 768 wide, C51 critic
#     (101 atoms, ±20), bf16 AMP, AdamW (wd 0.001).
# We take holosoma's FastSAC recipe (ours is SAC, not TD3: gpu_sac/envs/recipes.py FASTSAC, every value cited
# there) with FastTD3's step budgets, 4 096 replay steps per env (4 194 304 rows; stored compactly, each
# observation once: ~4.2 GB for G1) and chunks of 1000 vectorised steps (one evaluation per 1 024 000
# env steps: 50 for Go1, 100 for G1; an evaluation steps 1000-step episodes one after another).
LOCOMOTION_GPU = dict(
    recipes.FASTSAC,
    total_steps=50_000 * 1024,
    steps_per_chunk=1000 * 1024,
    buffer_size=4096 * 1024,
)
# FastTD3's budget for the humanoids (G1, T1): 100 000 vectorised steps of 1024 envs.
_LONGER = ("G1", "T1")

# CPU preset: a tiny chunk that shows the env runs, not one that learns. On a 2-core CPU Go1 steps at
# ~11 env steps/s and G1 at ~5 (MJX, 16 envs in one group), so the GPU preset's 51 M steps would take
# months: learning these on a CPU is out of reach. 2 048 steps are ~3 min of Go1 stepping, plus the compile
# (a reset or a step alone compiles in ~20 s for Go1, ~40 s for G1).
LOCOMOTION_CPU = dict(
    total_steps=2048,
    steps_per_chunk=1024,
    num_envs=16,
    env_group_size=16,
    batch_size=128,
    buffer_size=16_384,
    start_steps=256,
    min_replay_size=256,
    grad_updates_per_step=1,
    hidden_sizes=(64, 64),
    actor_hidden_sizes=None,  # hidden_sizes for both (the GPU preset's FastSAC widths are GPU-sized)
    critic_hidden_sizes=None,
    eval_episodes=1,
)


def robot_dir(name: str) -> str:
    """The Menagerie dir that env `name` loads its robot from (e.g. "unitree_go1")."""
    for prefix in sorted(ROBOT_DIRS, key=len, reverse=True):
        if name.startswith(prefix):
            return ROBOT_DIRS[prefix]
    raise ValueError(f"{name!r} is not one of Playground's locomotion envs: {', '.join(LOCOMOTION_ENVS)}")


def preset(name: str) -> dict[str, Any]:
    """The GPU preset, with Playground's episode length and FastTD3's budget for env `name`."""
    out = dict(LOCOMOTION_GPU, episode_length=EPISODE_LENGTH.get(name, 1000))
    if name.startswith(_LONGER):
        out["total_steps"] = 100_000 * 1024
    return out


def ensure_assets(name: str) -> None:
    """Make sure the Menagerie files env `name` reads are in place, before Playground looks (and clones):
    Go1/G1 meshes are fetched from PyPI on first use; for any other robot a missing dir is a ValueError
    that names it. RuntimeError if the Go1/G1 fetch fails."""
    # Imported here, not with the package: `python -m gpu_sac.envs.menagerie` runs it as a script,
    # which Python warns about when importing gpu_sac has imported it already.
    from gpu_sac.envs import menagerie

    robot = robot_dir(name)
    root = menagerie.menagerie_path()
    if robot in menagerie.ROBOTS:
        if menagerie.present(robot, root):
            return
        print("fetching Go1/G1 meshes from the mjlab wheel on PyPI (python -m gpu_sac.envs.menagerie) ...", flush=True)
        try:
            menagerie.ensure(root)
        except Exception as e:  # noqa: BLE001 - pip, network, disk: all end in the same advice
            raise RuntimeError(
                f"{name} needs MuJoCo Menagerie's {robot} meshes in {root / robot / 'assets'}, and fetching "
                f"them failed: {e}. Provide them with `python -m gpu_sac.envs.menagerie` (PyPI), or offline with "
                "`python -m gpu_sac.envs.menagerie --from-wheel mjlab-*.whl` or `--from-tgz menagerie_go1_g1.tgz`"
            ) from e
        return
    missing = [root / robot / p for p in _NEEDS.get(robot, ("assets",)) if not (root / robot / p).exists()]
    if missing:
        raise ValueError(
            f"{name} needs MuJoCo Menagerie's {robot} ({', '.join(map(str, missing))} missing), which no "
            f"package on PyPI ships. On a machine that can reach GitHub: `git clone "
            f"https://github.com/google-deepmind/mujoco_menagerie` and copy its {robot} dir to {root / robot} "
            "(Playground 0.2.0 pins Menagerie commit 1b86ece5). Only the Go1 and G1 envs are provided "
            "offline here (`python -m gpu_sac.envs.menagerie`)"
        )


def make_locomotion(name: str, impl: str = "auto", domain_randomization: bool = False, worlds: int | None = None,
                    graph_mode: str = "auto", num_devices: int = 1) -> Any:
    """Playground's locomotion env `name` with `impl` ("jax": MJX; "warp": MuJoCo Warp; "auto": Warp on a GPU
    with warp-lang, else MJX; gpu_sac/envs/physics.py, which also sizes Warp for `worlds` envs at once),
    its Menagerie assets checked (and for Go1/G1 fetched) first; with domain_randomization, each episode
    in a model drawn by Playground's randomizer for it (gpu_sac/envs/domain_randomization.py); a dict-observation
    env comes flattened (dict_obs.FlatDictEnv, carrying obs_layout). Actions are in [-1, 1]."""
    ensure_assets(name)
    from gpu_sac.envs import dict_obs, physics
    from gpu_sac.envs import domain_randomization as dr

    env = physics.load(name, impl, worlds, graph_mode, num_devices)
    if domain_randomization:
        env = dr.randomized(name, env)
    return dict_obs.flatten_if_dict(env)
