"""brax.training's SAC at the paper's set-up, as the benchmark's peer.

Compatibility shim: brax 0.14.2's SAC calls `jax.device_put_replicated`, which current
jax removed. On one device it only adds a leading device axis, which is all this shim
does; it is installed here, for the benchmark, and nowhere in the library.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp


def _device_put_replicated(tree, devices):
    return jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * len(devices)), tree)


def install_shim() -> None:
    if not hasattr(jax, "device_put_replicated"):
        jax.device_put_replicated = _device_put_replicated


def measure_brax_sac(*, backend: str, rounds_per_epoch: int) -> dict:
    """Env steps/s of brax.training SAC (128 envs, 3x256 hidden, batch 256, 64 updates
    per round = 0.5 per env step), from its own per-epoch timing (`training/sps`) of
    the last epoch, which excludes compilation."""
    install_shim()
    from brax import envs
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac_train

    num_envs, prefill = 128, 12_800
    epochs = 3
    num_timesteps = prefill + epochs * rounds_per_epoch * num_envs
    seen: list[dict] = []

    def progress(step, metrics):
        seen.append({"step": int(step), **{k: float(v) for k, v in metrics.items()}})

    env = envs.get_environment("halfcheetah", backend=backend)
    start = time.perf_counter()
    sac_train.train(
        environment=env,
        num_timesteps=num_timesteps,
        episode_length=1000,
        num_envs=num_envs,
        num_eval_envs=num_envs,
        learning_rate=3e-4,
        discounting=0.99,
        batch_size=256,
        num_evals=epochs + 1,
        min_replay_size=prefill,
        max_replay_size=1_280_000,
        grad_updates_per_step=num_envs // 2,
        network_factory=functools.partial(
            sac_networks.make_sac_networks, hidden_layer_sizes=(256, 256, 256)
        ),
        progress_fn=progress,
        seed=0,
    )
    wall = time.perf_counter() - start
    sps = [m["training/sps"] for m in seen if "training/sps" in m]
    return {
        "learner": "brax.training SAC",
        "actor": "plain",
        "seeds": 1,
        "rounds": rounds_per_epoch,
        "env_steps_per_s": sps[-1] if sps else float("nan"),
        "all_epoch_sps": sps,
        "wall_s": wall,
    }
