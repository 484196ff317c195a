"""Add a dynamics variant of one's own and train on it.

    python examples/own_variant.py
    python examples/own_variant.py --budget-scale 0.05

Registers `windy_heavy` (a pendulum with a 1.8x heavier pole under 0.8x gravity and
inverted actions) and trains FT-L2 on normal -> windy_heavy."""

import argparse
import dataclasses

import rewire_eqx as rx

WINDY_HEAVY = rx.Variant(body_scale=(("pole", 1.8),), gravity=0.8, invert_actions=True)


def main(budget_scale: float, output_dir: str) -> rx.Run:
    rx.register_variant("pendulum", "windy_heavy", WINDY_HEAVY)
    spec = rx.quick_run()
    spec = dataclasses.replace(
        spec,
        name="pendulum_windy_heavy",
        output_dir=output_dir,
        method=dataclasses.replace(spec.method, name="ft_l2"),
        scenario=dataclasses.replace(
            spec.scenario,
            tasks=("normal", "windy_heavy"),
            budget_scale=budget_scale,
            reference_rewards=(),
        ),
    )
    done = rx.run(spec)
    print(f"{done.folder}: R =\n{done.R.round(1)}")
    return done


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-scale", type=float, default=0.5)
    parser.add_argument("--output-dir", default="runs")
    args = parser.parse_args()
    main(args.budget_scale, args.output_dir)
