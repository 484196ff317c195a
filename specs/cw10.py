"""Continual World CW10 on Meta-World v3, full scale (1M steps per task: hours per task on
this CPU; shrink with --scenario.budget-scale)."""

from rewire_eqx.scenarios import cw_run

SPEC = cw_run("cw10")
