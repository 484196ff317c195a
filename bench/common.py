"""What the benchmarks share: the two Brax set-ups, their SAC specs, the measured matmul
peak, a learner's warm state, XLA-counted FLOPs and the summary of timed windows. Every
benchmark module imports these from here (none imports another benchmark)."""

from __future__ import annotations

import dataclasses
import statistics
import time

import equinox as eqx
import jax

from rewire_eqx import losses, sac
from rewire_eqx.specs import NetworkSpec, PermutationSpec, PolicySpec, SACSpec, build

SETUPS: dict[str, dict] = {
    "cpu": {"num_envs": 16, "updates_per_step": 1.0, "hidden": (128, 128, 128)},
    "paper": {"num_envs": 128, "updates_per_step": 0.5, "hidden": (256, 256, 256)},
}


def sac_spec(setup: str, *, equal_work: bool = False) -> SACSpec:
    s = SETUPS[setup]
    return SACSpec(
        num_envs=s["num_envs"],
        episode_length=1000,
        batch_size=256,
        updates_per_step=s["updates_per_step"],
        actor_lr=1e-3,
        policy_update_delay=1 if equal_work else 2,
        target_update_delay=1,
        critic=NetworkSpec(hidden_sizes=s["hidden"]),
    )


def matmul_peak(n: int = 2048, repeats: int = 20) -> float:
    """Measured float32 matmul throughput in GFLOP/s (best of `repeats`)."""
    a = jax.random.normal(jax.random.key(0), (n, n))
    b = jax.random.normal(jax.random.key(1), (n, n))
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def policy_spec(learner: sac.Learner, hidden, num_modes: int) -> PolicySpec:
    return PolicySpec(
        in_size=learner.env.obs_size,
        out_size=2 * learner.env.action_size,
        num_tasks=8,
        cycle=4,
        rewire=num_modes > 1,
        network=NetworkSpec(hidden_sizes=hidden),
        permutation=PermutationSpec(num_modes=max(num_modes, 1)),
    )


def warm_state(
    learner: sac.Learner, hidden, num_modes: int, *, noise_scale: float | None = None
) -> sac.TrainState:
    """A learner's state after its warm-up: actor (`num_modes > 1`: rewired, with
    `noise_scale` if given) from key 0, the rest from key 1, the buffer filled to
    `start_steps`."""
    policy = policy_spec(learner, hidden, num_modes)
    if noise_scale is not None:
        policy = dataclasses.replace(
            policy,
            permutation=dataclasses.replace(policy.permutation, noise_scale=noise_scale),
        )
    actor = build(policy, key=jax.random.key(0))
    state = sac.init_state(learner, actor, key=jax.random.key(1))
    return sac.warmup(learner, state, sac.warmup_rounds(learner))


def update_block_compiled(learner: sac.Learner, state: sac.TrainState):
    """One update block (`policy_update_delay` critic updates and one actor update),
    compiled alone."""
    arrays, static = eqx.partition(state, eqx.is_array)

    def block(arrays):
        out = sac._update_block(
            learner, eqx.combine(arrays, static), losses.NoRegulariser()
        )
        return eqx.filter(out, eqx.is_array)

    return jax.jit(block).lower(arrays).compile()


def xla_flops(compiled) -> float:
    """The FLOPs XLA's cost analysis counts for a compiled function."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def update_flops(learner: sac.Learner, state: sac.TrainState) -> float:
    """XLA-counted FLOPs of one gradient update (critic update + 1/delay actor update)."""
    return (
        xla_flops(update_block_compiled(learner, state)) / learner.spec.policy_update_delay
    )


def summary(samples: list[float]) -> dict:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": samples,
    }
