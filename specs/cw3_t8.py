"""Continual World triplet t8 (the paper's Table 2) on Meta-World v3, full scale (1M steps
per task: hours on this CPU; shrink with --scenario.budget-scale)."""

from rewire_eqx.scenarios import cw_run

SPEC = cw_run("cw3_t8")
