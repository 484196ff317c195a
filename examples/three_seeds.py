"""Run three seeds of one spec as one program and print the table of their metrics.

    python examples/three_seeds.py
    python examples/three_seeds.py --spec specs/quick.py --budget-scale 0.05

Prints, per metric, the mean over seeds with its 95% bootstrap interval."""

import argparse
import dataclasses

import numpy as np

import rewire_eqx as rx
from rewire_eqx.stats import stratified_bootstrap


def main(
    spec_path: str, budget_scale: float, output_dir: str, seeds: int = 3, tasks: int = 0
) -> str:
    """`tasks > 0` keeps the spec's first `tasks` tasks only."""
    spec = rx.load_spec(spec_path)
    scenario = dataclasses.replace(spec.scenario, budget_scale=budget_scale)
    if tasks:
        scenario = dataclasses.replace(
            scenario,
            tasks=scenario.tasks[:tasks],
            reference_rewards=scenario.reference_rewards[:tasks],
            reference_aucs=scenario.reference_aucs[:tasks],
        )
    spec = dataclasses.replace(spec, output_dir=output_dir, scenario=scenario)
    runs = rx.run([dataclasses.replace(spec, seed=seed) for seed in range(seeds)])
    lines = [f"{spec.name}, {spec.method.name}, seeds 0-{seeds - 1}", ""]
    lines += ["| metric | mean [95% CI] | per seed |", "|---|---|---|"]
    for field in ("average_performance", "forgetting_mean", "model_size"):
        values = np.array([getattr(run, field) for run in runs], dtype=np.float64)
        interval = stratified_bootstrap(values[:, None], reps=2000)
        per_seed = ", ".join(f"{v:.3g}" for v in values)
        lines.append(f"| {field} | {interval} | {per_seed} |")
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/quick.py")
    parser.add_argument("--budget-scale", type=float, default=1.0)
    parser.add_argument("--output-dir", default="runs")
    parser.add_argument("--tasks", type=int, default=0, help="keep the first N tasks")
    args = parser.parse_args()
    main(args.spec, args.budget_scale, args.output_dir, tasks=args.tasks)
