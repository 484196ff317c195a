"""How much a Continual World success rate moves between two evaluations of the SAME
policy: the sampling noise of 10 against 50 evaluation episodes.

    python runs/cw3_cpu/eval_noise/measure.py RUN_DIR [RUN_DIR ...]

For every finished task of every run, the final policy of that task (after the run's
last task) is evaluated `--draws` times with 10 episodes (10 envs x 1 rollout, the
spec's set-up) and `--draws-50` times with 50 episodes (10 envs x 5 rollouts), each
under a fresh key (goals and starts are re-drawn at every reset). Writes `table.md` and
`noise.json` beside this file; uses only the public API (`rewire_eqx.load_run`,
`Run.policy`, `evaluate`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

import rewire_eqx as rx

HERE = Path(__file__).parent


def _label(folder: Path, run) -> str:
    """`<setting> seed <k>` for a folder of the diagnosis layout
    (`<root>/<setting>/seed<k>/<spec>/<timestamp>`), else the spec, method and seed."""
    parts = folder.resolve().parts
    if len(parts) >= 4 and parts[-3].startswith("seed"):
        return f"{parts[-4]} seed {parts[-3].removeprefix('seed')}"
    return f"{run.spec.name} {run.spec.method.name} seed {run.spec.seed}"


def measure(folder: str, draws: int, draws_50: int) -> list[dict]:
    run = rx.load_run(folder)
    rows = []
    for task in range(run.last_task + 1):
        policy = run.policy(task)
        env = run.env(task)
        root = jax.random.key(12345 + task)
        ten = [
            rx.evaluate(policy, env, episodes=1, key=jax.random.fold_in(root, i))
            for i in range(draws)
        ]
        fifty = [
            rx.evaluate(policy, env, episodes=5, key=jax.random.fold_in(root, 10_000 + i))
            for i in range(draws_50)
        ]
        rows.append(
            {
                "run": _label(Path(folder), run),
                "folder": str(folder),
                "task": run.tasks[task],
                "R_end": float(run.R[run.last_task, task]),
                "ten": ten,
                "fifty": fifty,
                "ten_mean": float(np.mean(ten)),
                "ten_sd": float(np.std(ten, ddof=1)),
                "ten_range": float(np.ptp(ten)),
                "fifty_mean": float(np.mean(fifty)),
                "fifty_sd": float(np.std(fifty, ddof=1)),
            }
        )
        print(rows[-1]["run"], rows[-1]["task"], rows[-1]["ten_sd"], rows[-1]["fifty_sd"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--draws-50", type=int, default=6)
    parser.add_argument(
        "--table-only", action="store_true", help="rebuild table.md from noise.json"
    )
    args = parser.parse_args()
    if args.table_only:
        rows = json.loads((HERE / "noise.json").read_text())
        for row in rows:
            row["run"] = (
                _label(Path(row["folder"]), None) if "seed" in row["folder"] else row["run"]
            )
        args.draws, args.draws_50 = len(rows[0]["ten"]), len(rows[0]["fifty"])
    else:
        rows = [row for f in args.runs for row in measure(f, args.draws, args.draws_50)]
    (HERE / "noise.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        f"| run | task | R at the end | mean of {args.draws} x 10 episodes | SD (10) "
        f"| range (10) | mean of {args.draws_50} x 50 episodes | SD (50) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['task']} | {r['R_end']:.1f} | {r['ten_mean']:.2f} "
            f"| {r['ten_sd']:.3f} | {r['ten_range']:.1f} | {r['fifty_mean']:.2f} "
            f"| {r['fifty_sd']:.3f} |"
        )
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
