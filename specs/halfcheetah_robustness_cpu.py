"""CPU-scale HalfCheetah robustness: `normal` then `inverted_actions`, 60k steps each,
16 envs, one update per env step, 3x128 networks, the scenario's published row
otherwise (`scenarios.brax_cpu_run`); about 3-5 minutes per run on 2 cores."""

from rewire_eqx.scenarios import brax_cpu_run

SPEC = brax_cpu_run("halfcheetah_robustness", tasks=("normal", "inverted_actions"))
