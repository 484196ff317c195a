"""CPU-scale Continual World triplet: window-close, faucet-close, handle-press-side
(Meta-World v3), 100k steps each, 3x128 networks; about 10 minutes per run on 2 cores."""

from rewire_eqx.scenarios import cw_cpu_run

SPEC = cw_cpu_run()
