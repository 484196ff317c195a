"""Domains: build the environment of a named task: a variant of a JAX domain (pendulum,
brax) or a Meta-World task (stepped on the host)."""

from __future__ import annotations

import functools

from rewire_eqx.envs.base import AbstractEnv, AbstractVecEnv, JaxVecEnv
from rewire_eqx.envs.brax_env import BRAX_DOMAINS, brax_env
from rewire_eqx.envs.pendulum import Pendulum
from rewire_eqx.envs.variants import VARIANTS, Variant, edited, get_variant

__all__ = ["DOMAINS", "check_task", "make_env", "make_vec_env"]

DOMAINS = (*sorted(VARIANTS), "metaworld")
"""Domain names: the CPU-scale `pendulum`, the brax domains and Meta-World."""

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


def check_task(domain: str, task: str) -> None:
    """Raise a `ValueError` listing the valid names unless `task` is one of `domain`'s
    (cheap: nothing is built)."""
    if domain == "metaworld":
        from rewire_eqx.envs.metaworld_env import check_task as check_metaworld

        check_metaworld(task)
    else:
        get_variant(domain, task)


def make_vec_env(
    domain: str,
    task: str,
    *,
    num_envs: int,
    episode_length: int,
    backend: str = "generalized",
) -> AbstractVecEnv:
    """`num_envs` environments of a task with truncation at `episode_length` and
    automatic reset: `JaxVecEnv` over `make_env` for the JAX domains (the pendulum draws
    a fresh start state at every reset; brax restarts from its first one, as brax's
    training wrappers do), `HostVecEnv` for Meta-World."""
    if domain == "metaworld":
        from rewire_eqx.envs.metaworld_env import metaworld_vec_env

        return metaworld_vec_env(task, num_envs=num_envs, episode_length=episode_length)
    return JaxVecEnv(
        make_env(domain, task, backend=backend),
        num_envs=num_envs,
        episode_length=episode_length,
        fresh_resets=domain == "pendulum",
    )


@functools.cache
def make_env(domain: str, task: str, *, backend: str = "generalized") -> AbstractEnv:
    """The environment of task variant `task` of `domain` (dynamics, observation and
    action edits applied); built once per process (it is immutable)."""
    variant = get_variant(domain, task)
    if domain == "pendulum":
        base: AbstractEnv = _pendulum(variant)
    elif domain in BRAX_DOMAINS:
        base = brax_env(domain, variant, backend=backend)
    else:  # pragma: no cover - get_variant already rejected it
        raise ValueError(f"unknown domain {domain!r}; valid: {list(DOMAINS)}")
    return edited(base, variant)
