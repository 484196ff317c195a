"""Frozen dataclass specs: data only, validated on construction, built by `build`.

A bad value raises `ValueError` naming the field (`Spec.field`), the value and the valid
range, before anything is compiled. Specs compose with `dataclasses.replace`, and every
field is overridable from the command line (`--policy.permutation.num-modes 5`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

from jaxtyping import PRNGKeyArray

from rewire_eqx.networks import ACTIVATIONS, AbstractPolicyNet, PlainMLP, RewiredMLP

__all__ = [
    "LossSpec",
    "NetworkSpec",
    "PermutationSpec",
    "PolicySpec",
    "RunSpec",
    "build",
]

Activation = Literal["leaky_relu", "relu", "tanh", "elu", "silu", "gelu"]


def _fail(spec: object, field: str, value: object, expected: str) -> None:
    raise ValueError(f"{type(spec).__name__}.{field}={value!r} is invalid: {expected}")


def _positive_int(spec: object, field: str, minimum: int = 1) -> None:
    value = getattr(spec, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(spec, field, value, f"expected an integer >= {minimum}")


def _number(spec: object, field: str, *, positive: bool) -> None:
    value = getattr(spec, field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        _fail(
            spec,
            field,
            value,
            "expected a finite number " + ("> 0" if positive else ">= 0"),
        )


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """Shape of a policy body (paper: 3 hidden layers of 256, LeakyReLU 0.2)."""

    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """Width of each hidden layer; these layers are the ones rewired."""
    activation: Activation = "leaky_relu"
    """Elementwise activation (leaky_relu has slope 0.2)."""

    def __post_init__(self):
        sizes = self.hidden_sizes
        if (
            not isinstance(sizes, tuple)
            or len(sizes) == 0
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes)
        ):
            _fail(
                self, "hidden_sizes", sizes, "expected a non-empty tuple of integers >= 1"
            )
        if self.activation not in ACTIVATIONS:
            _fail(
                self, "activation", self.activation, f"valid choices: {sorted(ACTIVATIONS)}"
            )


@dataclasses.dataclass(frozen=True)
class PermutationSpec:
    """Parameterisation of the learnable wirings (Eq. 3-5) and the adapters (Eq. 9-12)."""

    num_modes: int = 3
    """K, the number of wirings trained at once (multi-mode rewiring, Eq. 5)."""
    tau: float = 1.0
    """SoftSort temperature of the score vectors (Eq. 4)."""
    noise_scale: float = 0.1
    """Scale of the Gumbel noise added to the scores in training (0 disables it)."""
    adapter_tau: float = 0.1
    """SoftSort temperature tau_2 of the alignment adapters (no noise)."""

    def __post_init__(self):
        _positive_int(self, "num_modes")
        _number(self, "tau", positive=True)
        _number(self, "noise_scale", positive=False)
        _number(self, "adapter_tau", positive=True)


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Weights of the method's extra actor losses."""

    distill_alpha: float = 1e-5
    """alpha: weight of the distillation between modes (Eq. 6)."""
    align_beta: float = 100.0
    """beta: weight of the alignment regulariser (Eq. 11)."""
    l2_coef: float = 0.0
    """Weight of the plain L2 regulariser to the previous weights (Eq. 7)."""

    def __post_init__(self):
        for field in ("distill_alpha", "align_beta", "l2_coef"):
            _number(self, field, positive=False)


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """A policy network: body shape, wiring parameterisation, sizes and task slots."""

    in_size: int = 18
    """Observation size."""
    out_size: int = 12
    """Head output size (2 x action size: mean and log-std)."""
    num_tasks: int = 8
    """Number of tasks of the scenario (capacity of the wiring cache)."""
    task_heads: bool = True
    """One head per task (the paper) instead of one shared head."""
    head_cycle: int = 0
    """Reuse heads modulo this many tasks (the paper's Brax set-up uses 4); 0: no reuse."""
    rewire: bool = True
    """Learn permutations of the hidden neurons; False gives a plain MLP."""
    network: NetworkSpec = NetworkSpec()
    permutation: PermutationSpec = PermutationSpec()

    def __post_init__(self):
        for field in ("in_size", "out_size", "num_tasks"):
            _positive_int(self, field)
        _positive_int(self, "head_cycle", minimum=0)

    @property
    def num_heads(self) -> int:
        if not self.task_heads:
            return 1
        return min(self.head_cycle, self.num_tasks) if self.head_cycle else self.num_tasks

    def head_of_task(self, task: int) -> int:
        """The head slot used by task `task`."""
        return task % self.num_heads


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a run needs. Later issues add the SAC learner and the scenario."""

    name: str = "run"
    """Name of the run (the run folder's parent)."""
    seed: int = 0
    """Seed of every random choice of the run."""
    policy: PolicySpec = PolicySpec()
    losses: LossSpec = LossSpec()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            _fail(self, "name", self.name, "expected a non-empty string without '/'")
        _positive_int(self, "seed", minimum=0)


@functools.singledispatch
def build(spec: object, *, key: PRNGKeyArray):
    """Turn a spec into Equinox modules (one path for every spec that builds)."""
    raise TypeError(f"build: no builder for {type(spec).__name__}")


@build.register
def _(spec: PolicySpec, *, key: PRNGKeyArray) -> AbstractPolicyNet:
    body = PlainMLP(
        spec.in_size,
        spec.network.hidden_sizes,
        spec.out_size,
        num_heads=spec.num_heads,
        activation=spec.network.activation,
        key=key,
    )
    if not spec.rewire:
        return body
    p = spec.permutation
    return RewiredMLP(
        body,
        num_modes=p.num_modes,
        num_tasks=spec.num_tasks,
        tau=p.tau,
        noise_scale=p.noise_scale,
        adapter_tau=p.adapter_tau,
    )


@build.register
def _(spec: RunSpec, *, key: PRNGKeyArray) -> AbstractPolicyNet:
    return build(spec.policy, key=key)


def spec_to_dict(spec: object) -> dict:
    """A JSON-ready dict of a spec (tuples become lists)."""
    return dataclasses.asdict(spec)
