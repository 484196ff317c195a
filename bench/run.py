"""Learner speed on Brax HalfCheetah: our fused SAC beside brax.training's SAC.

    python -m bench.run                              # both set-ups, 5 interleaved repeats
    python -m bench.run --setups cpu --repeats 3 --window 20 --no-peer

Two set-ups: `cpu` (16 envs, one gradient update per env step, 3x128 networks: the size
the CPU-scale experiments use) and `paper` (128 envs, 0.5 updates per env step, 3x256).
Batch 256 and a 1.28M-transition buffer in both. Cases per set-up:

- ours, plain actor, the paper's delays (critic updates per actor update 2, target 1);
- ours, rewired actor with K=3 modes, same delays;
- ours, plain actor updated at every critic update with target every update: the work
  brax.training's SAC does (`equal work`);
- brax.training's SAC (`bench/brax_peer.py`), when not `--no-peer`.

Timing: each of our cases runs windows of a fixed number of collection rounds, chosen
after compilation so that one window takes about `--window` seconds. The peer trains
for `--repeats` epochs of about `--window` seconds (its own per-epoch `training/sps`,
compilation excluded), and every one of our cases runs one window between two peer
epochs (from the peer's progress callback), so all cases share the machine's state
over the whole run. Reported: median and min-max over the repeats.

Work: XLA's cost analysis of one gradient update (ours: one update block of
`policy_update_delay` critic updates and one actor + temperature update, divided by the
delay; the peer: its own alpha, critic and actor updates and target averaging, see
`brax_peer.peer_update_flops`), and the machine's float32 matmul peak measured in the
same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import jax

from bench.common import (
    SETUPS,
    matmul_peak,
    sac_spec,
    summary,
    update_flops,
    warm_state,
)
from rewire_eqx import losses, sac
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env


@dataclasses.dataclass
class Case:
    """One of our learners, compiled, with its window length in rounds."""

    name: str
    learner: sac.Learner
    state: sac.TrainState
    rounds: int = 0
    flops_per_update: float = 0.0
    samples: list[float] = dataclasses.field(default_factory=list)

    def window(self, rounds: int) -> float:
        """Run `rounds` rounds; returns the seconds taken."""
        t = time.perf_counter()
        self.state, metrics = sac.train_chunk(
            self.learner, self.state, losses.NoRegulariser(), rounds
        )
        jax.block_until_ready(metrics)
        return time.perf_counter() - t

    def measure(self) -> None:
        seconds = self.window(self.rounds)
        self.samples.append(self.rounds * self.learner.spec.num_envs / seconds)


def make_case(setup: str, name: str, env: JaxVecEnv, window_s: float) -> Case:
    equal_work = name == "plain, equal work"
    learner = sac.Learner(sac_spec(setup, equal_work=equal_work), env)
    num_modes = 3 if name == "rewired K=3" else 1
    state = warm_state(learner, SETUPS[setup]["hidden"], num_modes)
    case = Case(name=name, learner=learner, state=state)
    case.flops_per_update = update_flops(learner, state)
    probe = 8
    case.window(probe)  # compiles
    case.window(probe)  # compiles nothing: `rounds` is static, same value
    seconds = case.window(probe)
    case.rounds = max(probe, round(probe * window_s / seconds))
    case.window(case.rounds)  # compiles the window length
    print(f"{setup}/{name}: window of {case.rounds} rounds", flush=True)
    return case


def bench_setup(
    setup: str, *, repeats: int, window_s: float, peer: bool, peak: float
) -> dict:
    env = JaxVecEnv(
        brax_env("halfcheetah"), num_envs=SETUPS[setup]["num_envs"], episode_length=1000
    )
    names = ("plain", "rewired K=3", "plain, equal work")
    cases = [make_case(setup, name, env, window_s) for name in names]

    def measure_all():
        for case in cases:
            case.measure()

    result: dict = {"config": SETUPS[setup], "cases": {}}
    if peer:
        from bench.brax_peer import measure_brax_sac, peer_update_flops

        peer_row = measure_brax_sac(
            num_envs=SETUPS[setup]["num_envs"],
            updates_per_step=SETUPS[setup]["updates_per_step"],
            hidden=SETUPS[setup]["hidden"],
            epochs=repeats,
            # the peer does the equal-work case's work: its window is about as long
            steps_per_epoch=cases[2].rounds * env.num_envs,
            between_epochs=measure_all,
        )
        peer_row["flops_per_update"] = peer_update_flops(
            obs_size=env.obs_size,
            action_size=env.action_size,
            hidden=SETUPS[setup]["hidden"],
        )
        result["peer"] = {**peer_row, **summary(peer_row.pop("epoch_sps"))}
    else:
        for _ in range(repeats):
            measure_all()
    ups = SETUPS[setup]["updates_per_step"]
    for case in cases:
        row = summary(case.samples)
        row["window_rounds"] = case.rounds
        row["flops_per_update"] = case.flops_per_update
        row["update_gflops"] = row["median"] * ups * case.flops_per_update / 1e9
        row["of_peak"] = row["update_gflops"] / peak
        result["cases"][case.name] = row
    if peer:
        p = result["peer"]
        p["update_gflops"] = p["median"] * ups * p["flops_per_update"] / 1e9
        p["of_peak"] = p["update_gflops"] / peak
        result["equal_work_over_peer"] = (
            result["cases"]["plain, equal work"]["median"] / p["median"]
        )
    result["rewired_over_plain"] = (
        result["cases"]["rewired K=3"]["median"] / result["cases"]["plain"]["median"]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", nargs="+", choices=tuple(SETUPS), default=list(SETUPS))
    parser.add_argument(
        "--repeats", type=int, default=5, help="interleaved windows per case"
    )
    parser.add_argument("--window", type=float, default=20.0, help="seconds per window")
    parser.add_argument("--no-peer", action="store_true", help="skip brax.training's SAC")
    parser.add_argument("--out", default="bench/results/run.json")
    args = parser.parse_args()
    if args.repeats < 1 or args.window <= 0:
        parser.error(
            f"--repeats {args.repeats} / --window {args.window}: expected >= 1 / > 0"
        )
    peak = matmul_peak()
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s", flush=True)
    results: dict = {
        "command": "python -m bench.run "
        + " ".join(
            [
                f"--setups {' '.join(args.setups)}",
                f"--repeats {args.repeats}",
                f"--window {args.window:g}",
            ]
            + (["--no-peer"] if args.no_peer else [])
        ),
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "matmul_peak_gflops": peak,
        "setups": {},
    }
    for setup in args.setups:
        results["setups"][setup] = bench_setup(
            setup,
            repeats=args.repeats,
            window_s=args.window,
            peer=not args.no_peer,
            peak=peak,
        )
        Path(args.out).write_text(json.dumps(results, indent=2))
    results["matmul_peak_gflops_after"] = matmul_peak()
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(format_table(results))


def format_table(results: dict) -> str:
    lines = [
        f"matmul peak {results['matmul_peak_gflops']:.1f} GFLOP/s (before), "
        f"{results.get('matmul_peak_gflops_after', float('nan')):.1f} (after)",
        "",
        "| set-up | learner | env steps/s, median [min, max] | GFLOP per update "
        "| update GFLOP/s | of peak |",
        "|---|---|---|---|---|---|",
    ]
    for setup, r in results["setups"].items():
        rows = [(f"rewire_eqx, {name}", row) for name, row in r["cases"].items()]
        if "peer" in r:
            rows.append(("brax.training SAC", r["peer"]))
        for label, row in rows:
            lines.append(
                f"| {setup} | {label} | {row['median']:.0f} [{row['min']:.0f}, {row['max']:.0f}] "
                f"| {row['flops_per_update'] / 1e9:.3f} | {row['update_gflops']:.1f} "
                f"| {100 * row['of_peak']:.0f}% |"
            )
        extra = f"rewired / plain {r['rewired_over_plain']:.2f}"
        if "equal_work_over_peer" in r:
            extra += f"; ours at equal work / peer {r['equal_work_over_peer']:.2f}"
        lines.append(f"| {setup} | {extra} | | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
