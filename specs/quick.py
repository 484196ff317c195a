"""The small default run (a CPU-scale policy); the README's first command runs it."""

from rewire_eqx.specs import NetworkSpec, PolicySpec, RunSpec

SPEC = RunSpec(
    name="quick",
    policy=PolicySpec(
        in_size=3, out_size=2, num_tasks=4, network=NetworkSpec(hidden_sizes=(64, 64))
    ),
)
