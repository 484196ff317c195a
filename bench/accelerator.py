"""The accelerator check: one command to run when a GPU (or TPU) is at hand.

    python -m bench.accelerator                  # about 8 minutes on one GPU (not yet run)
    python -m bench.accelerator --tiny           # the same steps at toy sizes (CPU test)

It records the device, then at the paper's HalfCheetah set-up (128 envs, 0.5 updates per
env step, 3x256; `--tiny`: 4 envs, 3x16):

1. env steps/s of our plain learner, our rewired K=3 learner and brax.training's SAC
   (interleaved windows, `bench.run.bench_setup`);
2. 1 / 8 / 32 seeds trained as one program (`rewire_eqx.seeds.train_chunks`): summed env
   steps/s and the device's peak memory after each count (`memory_stats`, where the
   backend has it; the process's peak RSS on CPU);
3. the compilation time of one training chunk of the plain learner;
4. a robustness run at a small budget (`specs/halfcheetah_robustness.py`, Rewire and FT-L2,
   one seed, its first two tasks) with its report table.

Writes `bench/results/accelerator.json` (`--tiny`: the path given by `--out`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import time
from pathlib import Path

import jax

from bench.common import SETUPS, matmul_peak, sac_spec, summary, warm_state
from rewire_eqx import losses, sac
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env

TINY = {"num_envs": 4, "updates_per_step": 0.5, "hidden": (16, 16, 16)}


def device_record() -> dict:
    device = jax.devices()[0]
    return {
        "platform": device.platform,
        "device_kind": getattr(device, "device_kind", "unknown"),
        "devices": jax.device_count(),
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
    }


def peak_memory_bytes() -> dict:
    """The device's peak bytes in use (GPU/TPU), else the process's peak RSS."""
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return {"device_peak_bytes": int(stats["peak_bytes_in_use"])}
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"process_peak_rss_bytes": int(rss_kib) * 1024}


def compile_seconds(setup: str, env: JaxVecEnv) -> float:
    """Wall time of compiling one training chunk of the plain learner."""
    learner = sac.Learner(sac_spec(setup), env)
    state = warm_state(learner, SETUPS[setup]["hidden"], 1)
    start = time.perf_counter()
    sac.train_chunk.lower(learner, state, losses.NoRegulariser(), 4).compile()
    return time.perf_counter() - start


def seeds_rows(setup: str, env: JaxVecEnv, counts, window_s: float, repeats: int) -> dict:
    from bench.seeds import make_group

    rows = {}
    for count in counts:
        group = make_group(setup, env, count, window_s, buffer=100_000)
        for _ in range(repeats):
            group.measure(env.num_envs)
        rows[str(count)] = {
            **summary(group.samples),
            "window_rounds": group.rounds,
            **peak_memory_bytes(),
        }
        del group
    return rows


def robustness_table(budget_scale: float, out: Path, tiny: bool) -> str:
    import rewire_eqx as rx

    spec = rx.load_spec("specs/halfcheetah_robustness.py")
    scenario = dataclasses.replace(
        spec.scenario,
        tasks=spec.scenario.tasks[:2],
        budget_scale=budget_scale,
        reference_rewards=(),
        eval_envs=8 if tiny else 128,
        eval_rollouts=1,
    )
    spec = dataclasses.replace(spec, scenario=scenario, output_dir=str(out / "runs"))
    if tiny:
        small = dataclasses.replace(spec.network, hidden_sizes=TINY["hidden"])
        spec = dataclasses.replace(
            spec,
            network=small,
            sac=dataclasses.replace(
                # 8 envs x 0.5 updates: a whole multiple of the robustness row's delay 4
                spec.sac,
                num_envs=8,
                critic=small,
                batch_size=32,
            ),
        )
    done = rx.compare(spec, variants=["rewire", "ft_l2"], seeds=1, out=out / "report")
    return done.report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes, for the CPU test")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per window")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--budget-scale", type=float, default=0.01)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--work", default="/tmp/rewire_eqx_accelerator")
    parser.add_argument("--out", default="bench/results/accelerator.json")
    args = parser.parse_args(argv)
    if args.tiny:
        SETUPS["tiny"] = TINY
    setup = "tiny" if args.tiny else "paper"
    started = time.perf_counter()
    record: dict = {"command": "python -m bench.accelerator " + " ".join(argv or [])}
    record["device"] = device_record()
    record["matmul_peak_gflops"] = matmul_peak(n=256 if args.tiny else 4096)
    env = JaxVecEnv(
        brax_env("halfcheetah"), num_envs=SETUPS[setup]["num_envs"], episode_length=1000
    )
    record["compile_seconds"] = compile_seconds(setup, env)
    from bench.run import bench_setup

    record["learners"] = bench_setup(
        setup,
        repeats=args.repeats,
        window_s=args.window,
        peer=not args.no_peer,
        peak=record["matmul_peak_gflops"],
    )
    record["seeds"] = seeds_rows(setup, env, args.counts, args.window, args.repeats)
    work = Path(args.work)
    record["robustness_table"] = robustness_table(args.budget_scale, work, args.tiny)
    record["total_seconds"] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(
        json.dumps({k: v for k, v in record.items() if k != "robustness_table"}, indent=2)
    )
    print(record["robustness_table"])
    return record


if __name__ == "__main__":
    main()
