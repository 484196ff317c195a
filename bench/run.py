"""Throughput benchmark of the fused SAC learner on brax HalfCheetah at the paper's set-up.

    python -m bench.run            # or: nox -s bench

Reports env steps per second of full training (collection + updates) for the plain and
the rewired K=3 actor, 1 seed and 4 vmapped seeds; the FLOPs of one gradient update
(XLA's cost analysis of one update block: `policy_update_delay` critic updates and one
actor update, divided by the delay); the machine's measured float32 matmul peak; and
brax.training's own SAC at the same set-up as the peer (see `bench/brax_peer.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from rewire_eqx import losses, sac
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env
from rewire_eqx.specs import NetworkSpec, PermutationSpec, PolicySpec, SACSpec, build

HIDDEN = (256, 256, 256)
PAPER_SAC = SACSpec(
    num_envs=128,
    episode_length=1000,
    batch_size=256,
    updates_per_step=0.5,
    actor_lr=1e-3,
    target_update_delay=2,
    policy_update_delay=2,
    distill_alpha=1e-5,
    critic=NetworkSpec(hidden_sizes=HIDDEN),
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


def _learner(env_backend: str) -> sac.Learner:
    env = JaxVecEnv(
        brax_env("halfcheetah", backend=env_backend), num_envs=128, episode_length=1000
    )
    return sac.Learner(PAPER_SAC, env)


def _policy_spec(learner: sac.Learner, num_modes: int) -> PolicySpec:
    return PolicySpec(
        in_size=learner.env.obs_size,
        out_size=2 * learner.env.action_size,
        num_tasks=8,
        cycle=4,
        rewire=num_modes > 1,
        network=NetworkSpec(hidden_sizes=HIDDEN),
        permutation=PermutationSpec(num_modes=max(num_modes, 1)),
    )


def _init(learner, policy_spec, seed):
    actor = build(policy_spec, key=jax.random.key(seed))
    return sac.init_state(learner, actor, key=jax.random.key(seed + 1000))


def measure_learner(learner, num_modes: int, num_seeds: int, rounds: int) -> dict:
    policy_spec = _policy_spec(learner, num_modes)
    if num_seeds == 1:
        state = _init(learner, policy_spec, 0)
        state = sac.warmup(learner, state, 2)
        reg = losses.NoRegulariser()
        run = sac.train_chunk
    else:
        states = [_init(learner, policy_spec, s) for s in range(num_seeds)]
        state = jax.tree.map(
            lambda *xs: jnp.stack(xs) if eqx.is_array(xs[0]) else xs[0], *states
        )
        state = sac.warmup_seeds(learner, state, 2)
        reg = eqx.filter_vmap(lambda _: losses.NoRegulariser())(jnp.arange(num_seeds))
        run = sac.train_chunk_seeds
    t = time.perf_counter()
    state, metrics = run(learner, state, reg, rounds)
    jax.block_until_ready(metrics)
    compile_and_first = time.perf_counter() - t
    t = time.perf_counter()
    state, metrics = run(learner, state, reg, rounds)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - t
    steps = rounds * learner.spec.num_envs * num_seeds
    return {
        "actor": "rewired K=3" if num_modes > 1 else "plain",
        "seeds": num_seeds,
        "rounds": rounds,
        "seconds": seconds,
        "env_steps_per_s": steps / seconds,
        "first_call_s": compile_and_first,
    }


def update_flops(learner, num_modes: int) -> float:
    """XLA-counted FLOPs of one gradient update (critic update + 1/delay actor update)."""
    state = _init(learner, _policy_spec(learner, num_modes), 0)
    state = sac.warmup(learner, state, 2)

    arrays, static = eqx.partition(state, eqx.is_array)

    def block(arrays):
        out = sac._update_block(
            learner, eqx.combine(arrays, static), losses.NoRegulariser()
        )
        return eqx.filter(out, eqx.is_array)

    cost = jax.jit(block).lower(arrays).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]) / learner.spec.policy_update_delay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=8, help="collection rounds timed per case"
    )
    parser.add_argument("--backend", default="generalized", help="brax pipeline")
    parser.add_argument("--no-peer", action="store_true", help="skip brax.training's SAC")
    parser.add_argument("--out", default="bench/results.json")
    args = parser.parse_args()

    results: dict = {
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
    }
    results["matmul_peak_gflops"] = matmul_peak()
    print(f"float32 matmul peak: {results['matmul_peak_gflops']:.1f} GFLOP/s", flush=True)
    learner = _learner(args.backend)
    results["flops_per_update"] = {
        "plain": update_flops(learner, 1),
        "rewired K=3": update_flops(learner, 3),
    }
    print(f"FLOPs per update: {results['flops_per_update']}", flush=True)
    rows = []
    for num_modes in (1, 3):
        for seeds in (1, 4):
            row = measure_learner(learner, num_modes, seeds, args.rounds)
            flops = results["flops_per_update"][row["actor"]]
            updates_per_s = row["env_steps_per_s"] * learner.spec.updates_per_step
            row["update_gflops"] = updates_per_s * flops / 1e9
            row["peak_fraction"] = row["update_gflops"] / results["matmul_peak_gflops"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    equal_work = sac.Learner(
        dataclasses.replace(PAPER_SAC, policy_update_delay=1), learner.env
    )
    flops = update_flops(equal_work, 1)
    row = measure_learner(equal_work, 1, 1, args.rounds)
    row["actor"] = "plain, actor updated every step"
    row["update_gflops"] = row["env_steps_per_s"] * PAPER_SAC.updates_per_step * flops / 1e9
    row["peak_fraction"] = row["update_gflops"] / results["matmul_peak_gflops"]
    results["flops_per_update"]["plain, actor updated every step"] = flops
    rows.append(row)
    print(json.dumps(row), flush=True)
    if not args.no_peer:
        from bench.brax_peer import measure_brax_sac

        peer = measure_brax_sac(backend=args.backend, rounds_per_epoch=args.rounds)
        rows.append(peer)
        print(json.dumps(peer), flush=True)
    results["rows"] = rows
    results["config"] = {"sac": dataclasses.asdict(PAPER_SAC), "backend": args.backend}
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(format_table(results))


def format_table(results: dict) -> str:
    lines = [
        f"matmul peak {results['matmul_peak_gflops']:.1f} GFLOP/s; FLOPs/update: "
        + ", ".join(f"{k} {v / 1e9:.3f} G" for k, v in results["flops_per_update"].items()),
        "",
        "| learner | actor | seeds | env steps/s | update GFLOP/s | of peak |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        gf = row.get("update_gflops")
        frac = row.get("peak_fraction")
        lines.append(
            f"| {row.get('learner', 'rewire_eqx')} | {row['actor']} | {row['seeds']} | "
            f"{row['env_steps_per_s']:.0f} | {'' if gf is None else f'{gf:.1f}'} | "
            f"{'' if frac is None else f'{100 * frac:.0f}%'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
