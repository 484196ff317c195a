"""Running a spec. Until the continual runner lands, `run` builds the policy and
reports its sizes (the training loop comes with the SAC and runner issues)."""

from __future__ import annotations

import jax

from rewire_eqx.networks import parameter_counts
from rewire_eqx.specs import RunSpec, build

__all__ = ["run"]


def run(spec: RunSpec) -> None:
    """Build the spec's policy network and print its sizes."""
    net = build(spec, key=jax.random.key(spec.seed))
    counts = parameter_counts(net)
    print(f"{spec.name}: {type(net).__name__}, hidden {spec.policy.network.hidden_sizes}")
    print(f"  weights (all {spec.policy.num_heads} heads): {counts.weights}")
    print(f"  weights (one policy, one head): {counts.weights_one_head}")
    print(f"  score vectors ({net.num_modes} modes): {counts.scores}")
    print(f"  alignment adapters: {counts.adapters}")
    print(
        f"  one cached wiring: {counts.wiring_entries} indices ({counts.wiring_bytes} bytes)"
    )
