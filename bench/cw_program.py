"""The size of one Continual World update program, read from the compiled HLO (no timing).

    python -m bench.cw_program               # writes bench/results/cw_program.json

At the CPU-scale Continual World set-up (`cw3_cpu`: one host env, 3x128), one update
block (`policy_update_delay` critic updates and one actor update) is compiled as a run
compiles it, with the regulariser a run of the method passes (Rewire: the alignment of
Eq. 11, whose coefficient is 0 on the first task but which is computed all the same;
others: none), for the plain actor and for the rewired K=3 actor with each of its
stochasticities (Dropout 0.1, the Continual World default; Gumbel noise 0.1; none). It
reports XLA's FLOP count and how many instructions of each kind the optimised program
holds. At this set-up's batch of 128 a CPU update is many small operations rather than
a few large products, so the instruction count, not the FLOPs, is what grows with the
method; the random-bit instructions (`xor`, `shift-right-logical`: threefry) show what
per-sample Dropout masks cost. Compiling only, it can run beside other work.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import re
from pathlib import Path

import equinox as eqx
import jax

from bench.common import xla_flops
from rewire_eqx import losses, sac
from rewire_eqx.envs.metaworld_env import metaworld_vec_env
from rewire_eqx.scenarios import cw_cpu_run
from rewire_eqx.specs import build

TASK = "window-close-v3"
SETUPS = {
    "plain (SAC-N, FT-1)": ("sacn", {}),
    "rewired K=3, Dropout 0.1": ("rewire", {"noise_scale": 0.0, "dropout": 0.1}),
    "rewired K=3, Gumbel 0.1": ("rewire", {"noise_scale": 0.1, "dropout": 0.0}),
    "rewired K=3, no noise": ("rewire", {"noise_scale": 0.0, "dropout": 0.0}),
}
KINDS = ("dot", "sort", "gather", "scatter", "fusion", "xor", "shift-right-logical")
_INSTRUCTION = re.compile(r"= (?:\([^)]*\)|\S+) ([\w-]+)\(")


def compiled_block(method: str, permutation: dict, env):
    """One update block of `cw3_cpu` for `method`, compiled."""
    spec = cw_cpu_run()
    spec = dataclasses.replace(
        spec,
        method=dataclasses.replace(spec.method, name=method),
        permutation=dataclasses.replace(spec.permutation, **permutation),
    )
    learner = sac.Learner(spec.sac_for_run, env)
    actor = build(spec.policy_spec(env.obs_size, env.action_size), key=jax.random.key(0))
    state = sac.begin_task(learner, actor, head=0, key=jax.random.key(1))
    if spec.method.rewires:
        regulariser = losses.AlignmentRegulariser(actor.body, 0.0)
    else:
        regulariser = losses.NoRegulariser()
    arrays, static = eqx.partition(state, eqx.is_array)

    def block(arrays, regulariser):
        out = sac._update_block(learner, eqx.combine(arrays, static), regulariser)
        return eqx.filter(out, eqx.is_array)

    return jax.jit(block).lower(arrays, regulariser).compile()


def instruction_counts(hlo_text: str) -> collections.Counter:
    """How many instructions of each opcode an HLO module's text holds."""
    return collections.Counter(_INSTRUCTION.findall(hlo_text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/cw_program.json")
    args = parser.parse_args()
    env = metaworld_vec_env(TASK, num_envs=1)
    rows = {}
    for name, (method, permutation) in SETUPS.items():
        program = compiled_block(method, permutation, env)
        counts = instruction_counts(program.as_text())
        rows[name] = {
            "gflop_per_block": xla_flops(program) / 1e9,
            "instructions": sum(counts.values()),
            **{kind: counts[kind] for kind in KINDS},
        }
        print(name, json.dumps(rows[name]), flush=True)
    result = {
        "command": "python -m bench.cw_program",
        "jax": jax.__version__,
        "set-up": "cw3_cpu (one host env, batch 128, 3x128), one update block",
        "programs": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
