"""Meta-World v3 tasks for Continual World, stepped on the host (`HostVecEnv`).

A task is built as Continual World builds it: the task's MT1 benchmark (seeded), its
first train task set on the env, then the goal vector unfrozen so that every reset draws
a new goal from the env's own seeded generator; observations of size 39 (goal visible),
actions of size 4 in [-1, 1]. Episodes are truncated at `episode_length` (Continual
World: 200; Meta-World v3's own default is 500). A step's `success` is Meta-World's
`info["success"]`.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np

from rewire_eqx.envs.host import GymnasiumEngine, HostVecEnv

__all__ = ["METAWORLD_TASKS", "check_task", "metaworld_env", "metaworld_vec_env"]

METAWORLD_TASKS: tuple[str, ...] = (
    "assembly-v3",
    "basketball-v3",
    "bin-picking-v3",
    "box-close-v3",
    "button-press-topdown-v3",
    "button-press-topdown-wall-v3",
    "button-press-v3",
    "button-press-wall-v3",
    "coffee-button-v3",
    "coffee-pull-v3",
    "coffee-push-v3",
    "dial-turn-v3",
    "disassemble-v3",
    "door-close-v3",
    "door-lock-v3",
    "door-open-v3",
    "door-unlock-v3",
    "drawer-close-v3",
    "drawer-open-v3",
    "faucet-close-v3",
    "faucet-open-v3",
    "hammer-v3",
    "hand-insert-v3",
    "handle-press-side-v3",
    "handle-press-v3",
    "handle-pull-side-v3",
    "handle-pull-v3",
    "lever-pull-v3",
    "peg-insert-side-v3",
    "peg-unplug-side-v3",
    "pick-out-of-hole-v3",
    "pick-place-v3",
    "pick-place-wall-v3",
    "plate-slide-back-side-v3",
    "plate-slide-back-v3",
    "plate-slide-side-v3",
    "plate-slide-v3",
    "push-back-v3",
    "push-v3",
    "push-wall-v3",
    "reach-v3",
    "reach-wall-v3",
    "shelf-place-v3",
    "soccer-v3",
    "stick-pull-v3",
    "stick-push-v3",
    "sweep-into-v3",
    "sweep-v3",
    "window-close-v3",
    "window-open-v3",
)
"""The 50 task names of metaworld 3.1.1 (`metaworld.env_dict.ALL_V3_ENVIRONMENTS`)."""

OBS_SIZE, ACTION_SIZE = 39, 4


def check_task(name: str) -> None:
    """Raise a `ValueError` naming the valid tasks unless `name` is one."""
    if name not in METAWORLD_TASKS:
        raise ValueError(
            f"unknown Meta-World task {name!r}; valid (v3 names): {list(METAWORLD_TASKS)}"
        )


@contextlib.contextmanager
def _quiet():
    """Meta-World and gymnasium warn at construction (deprecated gymnasium APIs, float64
    observation spaces); none concerns us, and the test suite turns warnings into
    errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@functools.cache
def _benchmark(name: str):
    """The task's MT1 benchmark (seed 0). MT1 seeds NumPy's global generator; its state
    is restored afterwards."""
    import metaworld

    saved = np.random.get_state()
    try:
        with _quiet():
            return metaworld.MT1(name, seed=0)
    finally:
        np.random.set_state(saved)


def metaworld_env(name: str, *, episode_length: int = 200):
    """One Meta-World env of task `name`, goals re-drawn at every reset."""
    check_task(name)
    benchmark = _benchmark(name)
    with _quiet():
        env = benchmark.train_classes[name]()
        env.set_task(benchmark.train_tasks[0])
    env._freeze_rand_vec = False  # a new goal at every reset (Continual World)
    env.seeded_rand_vec = True  # ... drawn from the env's seeded generator
    env.max_path_length = episode_length
    return env


def _seed(env, seed: int) -> None:
    with _quiet():
        env.unwrapped.seed(seed)


def metaworld_vec_env(name: str, *, num_envs: int, episode_length: int = 200) -> HostVecEnv:
    """`num_envs` envs of task `name` behind `HostVecEnv`."""
    check_task(name)
    with _quiet():
        engine = GymnasiumEngine(
            functools.partial(metaworld_env, name, episode_length=episode_length),
            num_envs=num_envs,
            seed_env=_seed,
        )
    return HostVecEnv(engine, episode_length=episode_length)
