"""CPU-scale scenario: pendulum swing-up, 4 tasks (normal, inverted actions, heavier
pole, heavier pole with inverted actions), 24k steps each; minutes on 2 cores."""

from rewire_eqx.scenarios import quick_run

SPEC = quick_run()
