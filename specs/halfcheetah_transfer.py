"""The paper's Brax scenario halfcheetah_transfer (full scale: hours per task on this CPU; shrink it
with --scenario.budget-scale 0.01 --scenario.eval-envs 16 --scenario.eval-rollouts 1)."""

from rewire_eqx.scenarios import brax_run

SPEC = brax_run("halfcheetah_transfer")
