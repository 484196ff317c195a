"""rewire_eqx: continual reinforcement learning by rewiring neurons (NeurIPS 2023) in
JAX + Equinox.

    import rewire_eqx as rx

    spec = rx.quick_run()                    # a RunSpec: compose it with dataclasses.replace
    done = rx.run(spec)                      # train and evaluate: a Run (folder, metrics, R)
    rx.load_run(done.folder).policy(2)       # task 2's trained policy
    rx.compare(spec, variants=["ft1", "rewire"], seeds=3)

Specs (frozen dataclasses): `RunSpec` holds a `ScenarioSpec` (tasks, budget,
evaluation), a `MethodSpec`, a `NetworkSpec`, a `PermutationSpec` (Eq. 3-4), a
`LossSpec` (Eq. 6-7, 11) and a `SACSpec`. Scenario builders give the paper's set-ups:
`quick_run`, `brax_run`, `brax_cpu_run`, `cw_run`, `cw_cpu_run`; `load_spec` reads a
spec file of `specs/`. Runs: `run`, `load_run`, `Run`, `TaskPolicy`, `evaluate`,
`compare`, `Comparison` (`RayOptions`: its jobs on a Ray cluster). `make_vec_env` builds a task's environments; `Variant` and
`register_variant` add a dynamics variant of one's own. The modules
(`rewire_eqx.permutation`, `networks`, `sac`, `methods`, `metrics`, ...) stay
importable; docs/api.md guides through them.

Names are imported on first use, so `python -m rewire_eqx.worker` can confine itself
to its cores before JAX starts.
"""

from __future__ import annotations

import importlib
import importlib.metadata

try:
    __version__ = importlib.metadata.version("rewire_eqx")
except importlib.metadata.PackageNotFoundError:  # run from a source tree
    __version__ = "unknown"

_WHERE = {
    # specs
    "RunSpec": "rewire_eqx.specs",
    "ScenarioSpec": "rewire_eqx.specs",
    "MethodSpec": "rewire_eqx.specs",
    "NetworkSpec": "rewire_eqx.specs",
    "PermutationSpec": "rewire_eqx.specs",
    "LossSpec": "rewire_eqx.specs",
    "SACSpec": "rewire_eqx.specs",
    "PolicySpec": "rewire_eqx.specs",
    "METHODS": "rewire_eqx.specs",
    "load_spec": "rewire_eqx.cli",
    # scenario builders
    "quick_run": "rewire_eqx.scenarios",
    "brax_run": "rewire_eqx.scenarios",
    "brax_cpu_run": "rewire_eqx.scenarios",
    "cw_run": "rewire_eqx.scenarios",
    "cw_cpu_run": "rewire_eqx.scenarios",
    "VARIANTS": "rewire_eqx.comparison",
    # environments
    "make_vec_env": "rewire_eqx.envs.domains",
    "Variant": "rewire_eqx.envs.variants",
    "register_variant": "rewire_eqx.envs.variants",
    # runs
    "run": "rewire_eqx.api",
    "load_run": "rewire_eqx.api",
    "Run": "rewire_eqx.api",
    "TaskPolicy": "rewire_eqx.api",
    "evaluate": "rewire_eqx.api",
    "compare": "rewire_eqx.api",
    "Comparison": "rewire_eqx.api",
    "RayOptions": "rewire_eqx.ray_jobs",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rewire_eqx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
