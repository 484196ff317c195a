"""CPU-scale Continual World triplet: window-close, faucet-close, handle-press-side
(Meta-World v3), 100k steps each, 3x128 networks, 50 evaluation episodes; 30-45
minutes per run on one core."""

from rewire_eqx.scenarios import cw_cpu_run

SPEC = cw_cpu_run()
