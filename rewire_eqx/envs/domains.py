"""Domains: build the environment of a named task variant."""

from __future__ import annotations

from rewire_eqx.envs.base import AbstractEnv
from rewire_eqx.envs.brax_env import BRAX_DOMAINS, brax_env
from rewire_eqx.envs.pendulum import Pendulum
from rewire_eqx.envs.variants import VARIANTS, Variant, edited, get_variant

__all__ = ["DOMAINS", "make_env"]

DOMAINS = tuple(sorted(VARIANTS))
"""Domain names: the CPU-scale `pendulum` and the brax domains."""

_PENDULUM_BODIES = {"pole", "pole_length"}


def _pendulum(variant: Variant) -> Pendulum:
    scales = dict(variant.body_scale)
    unknown = set(scales) - _PENDULUM_BODIES
    if unknown or variant.friction != 1.0:
        raise ValueError(
            f"pendulum variants scale only {sorted(_PENDULUM_BODIES)} and gravity; got "
            f"bodies {sorted(unknown)}, friction {variant.friction}"
        )
    return Pendulum(
        gravity=10.0 * variant.gravity,
        mass=scales.get("pole", 1.0),
        length=scales.get("pole_length", 1.0),
    )


def make_env(domain: str, task: str, *, backend: str = "generalized") -> AbstractEnv:
    """The environment of task variant `task` of `domain` (dynamics, observation and
    action edits applied)."""
    variant = get_variant(domain, task)
    if domain == "pendulum":
        base: AbstractEnv = _pendulum(variant)
    elif domain in BRAX_DOMAINS:
        base = brax_env(domain, variant, backend=backend)
    else:  # pragma: no cover - get_variant already rejected it
        raise ValueError(f"unknown domain {domain!r}; valid: {list(DOMAINS)}")
    return edited(base, variant)
