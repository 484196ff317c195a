"""The paper's HalfCheetah actor (obs 18, 6 actions, 8 tasks): the core's default run."""

from rewire_eqx.specs import RunSpec

SPEC = RunSpec(name="halfcheetah_actor")
