"""Task variants as data: frozen specs of dynamics, observation and action edits.

A `Variant` multiplies named bodies' masses (with their inertia and capsule/sphere
radius), gravity and friction, zeroes a fixed random share of the observation, and
zeroes or negates action entries. Variants compose with `+`. Each domain has a registry
of named variants (the paper's, see `../shared/reference/paper-setup.md`); an unknown
name raises a `ValueError` listing the valid ones.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from rewire_eqx.envs.base import AbstractEnv

__all__ = [
    "VARIANTS",
    "EditedEnv",
    "Variant",
    "edited",
    "get_variant",
    "register_variant",
]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One task's edits of a domain (the identity by default)."""

    body_scale: tuple[tuple[str, float], ...] = ()
    """(body name, factor): multiplies the body's mass, inertia and geom radius."""
    gravity: float = 1.0
    """Multiplies gravity."""
    friction: float = 1.0
    """Multiplies the sliding friction of every geom."""
    obs_mask_fraction: float = 0.0
    """Share of observation entries set to 0 (a fixed random subset, `mask_seed`)."""
    mask_seed: int = 0
    zero_actions: tuple[int, ...] = ()
    """Action entries forced to 0 (disabled actuators)."""
    invert_actions: bool = False
    """Negate every action entry."""

    def __add__(self, other: Variant) -> Variant:
        scales: dict[str, float] = dict(self.body_scale)
        for body, factor in other.body_scale:
            scales[body] = scales.get(body, 1.0) * factor
        return Variant(
            body_scale=tuple(scales.items()),
            gravity=self.gravity * other.gravity,
            friction=self.friction * other.friction,
            obs_mask_fraction=max(self.obs_mask_fraction, other.obs_mask_fraction),
            mask_seed=self.mask_seed if self.obs_mask_fraction else other.mask_seed,
            zero_actions=tuple(sorted(set(self.zero_actions) | set(other.zero_actions))),
            invert_actions=self.invert_actions != other.invert_actions,
        )

    @property
    def edits_dynamics(self) -> bool:
        return bool(self.body_scale) or self.gravity != 1.0 or self.friction != 1.0

    def obs_scale(self, obs_size: int) -> np.ndarray:
        """Per-entry observation multipliers (0 where masked)."""
        scale = np.ones(obs_size, np.float32)
        count = int(round(self.obs_mask_fraction * obs_size))
        if count:
            rng = np.random.default_rng(self.mask_seed)
            scale[rng.choice(obs_size, size=count, replace=False)] = 0.0
        return scale

    def action_scale(self, action_size: int) -> np.ndarray:
        """Per-entry action multipliers (0 for disabled, -1 for inverted)."""
        bad = [i for i in self.zero_actions if not 0 <= i < action_size]
        if bad:
            raise ValueError(f"zero_actions {bad} out of range for {action_size} actions")
        scale = np.full(action_size, -1.0 if self.invert_actions else 1.0, np.float32)
        scale[list(self.zero_actions)] = 0.0
        return scale


_NORMAL = Variant()
_INVERTED = Variant(invert_actions=True)

_CHEETAH_FOOT = ("bfoot", "ffoot")
# brax fuses the ant's hip segments into the torso: the legs are bodies 2..9 (aux_i, the
# upper legs, each with an unnamed lower leg addressed by id); the published hugefoot
# scales the four lower legs (the feet) only
_ANT_FEET = ("#3", "#5", "#7", "#9")


def _bodies(names: tuple[str, ...], factor: float) -> Variant:
    return Variant(body_scale=tuple((n, factor) for n in names))


_cheetah = {
    "normal": _NORMAL,
    "carry_stuff": _bodies(("torso",), 4.0),
    "hugefoot": _bodies(_CHEETAH_FOOT, 1.5),
    "tinyfoot": _bodies(_CHEETAH_FOOT, 0.5),
    "moon": Variant(gravity=0.15),
    "rainfall": Variant(friction=0.4),
    "defective_module": Variant(obs_mask_fraction=0.5),
    "inverted_actions": _INVERTED,
}
_cheetah |= {
    "carry_stuff_hugegravity": _cheetah["carry_stuff"] + Variant(gravity=1.5),
    "hugefoot_rainfall": _cheetah["hugefoot"] + _cheetah["rainfall"],
    "tinyfoot_moon": _cheetah["tinyfoot"] + _cheetah["moon"],
}

_ant = {
    "normal": _NORMAL,
    "hugefoot": _bodies(_ANT_FEET, 1.5),
    "rainfall": Variant(friction=0.375),
    "moon": Variant(gravity=0.7),
    "inverted_actions": _INVERTED,
    "disabled_hard1": Variant(zero_actions=(2, 3, 4, 5, 6, 7)),
    "disabled_hard2": Variant(zero_actions=(0, 1, 4, 5, 6, 7)),
    "disabled_forefeet": Variant(zero_actions=(0, 1, 2, 3)),
    "disabled_backfeet": Variant(zero_actions=(4, 5, 6, 7)),
    "disabled_first_diagonal": Variant(zero_actions=(0, 1, 4, 5)),
    "disabled_second_diagonal": Variant(zero_actions=(2, 3, 6, 7)),
}

_humanoid = {
    "normal": _NORMAL,
    "moon": Variant(gravity=0.15),
    "carrystuff": _bodies(("torso", "lwaist"), 4.0),
    "tinyfeet": _bodies(("right_shin", "left_shin"), 0.5),
}

_pendulum = {
    "normal": _NORMAL,
    "inverted_actions": _INVERTED,
    "heavy": Variant(body_scale=(("pole", 1.5),)),
    "heavy_inverted": Variant(body_scale=(("pole", 1.5),), invert_actions=True),
    "moon": Variant(gravity=0.5),
    "long": Variant(body_scale=(("pole_length", 1.3),)),
}

VARIANTS: dict[str, dict[str, Variant]] = {
    "halfcheetah": _cheetah,
    "ant": _ant,
    "humanoid": _humanoid,
    "pendulum": _pendulum,
}
"""Named variants per domain."""


def register_variant(domain: str, name: str, variant: Variant) -> None:
    """Add a named task variant of one's own to a domain's registry, so specs can name
    it in `ScenarioSpec.tasks`. Register it where the spec is defined (a spec file of
    `specs/` that registers at import works with `run`, `compare` and `--resume`). A
    name already taken by another variant is refused."""
    if domain not in VARIANTS:
        raise ValueError(f"unknown domain {domain!r}; valid domains: {sorted(VARIANTS)}")
    if not isinstance(variant, Variant):
        raise TypeError(
            f"register_variant: expected a Variant, got {type(variant).__name__}"
        )
    known = VARIANTS[domain].get(name)
    if known is not None and known != variant:
        raise ValueError(
            f"register_variant: {domain!r} already has a variant named {name!r} ({known})"
        )
    VARIANTS[domain][name] = variant


def get_variant(domain: str, name: str) -> Variant:
    """The named variant of a domain; a clear error lists the valid names."""
    if domain not in VARIANTS:
        raise ValueError(f"unknown domain {domain!r}; valid domains: {sorted(VARIANTS)}")
    table = VARIANTS[domain]
    if name not in table:
        raise ValueError(
            f"unknown task variant {name!r} for domain {domain!r}; valid: {sorted(table)}"
        )
    return table[name]


class EditedEnv(AbstractEnv):
    """Observation and action edits around an environment (arrays, not constants, so
    tasks that differ only in their edits share one compiled program)."""

    env: AbstractEnv
    obs_scale: Float[Array, " obs"]
    action_scale: Float[Array, " act"]

    @property
    def obs_size(self) -> int:
        return self.env.obs_size

    @property
    def action_size(self) -> int:
        return self.env.action_size

    def reset(self, key):
        state, obs = self.env.reset(key)
        return state, obs * self.obs_scale

    def step(self, state, action):
        state, obs, reward, terminated = self.env.step(state, action * self.action_scale)
        return state, obs * self.obs_scale, reward, terminated


def edited(env: AbstractEnv, variant: Variant) -> EditedEnv:
    """Wrap `env` with the variant's observation mask and action multipliers."""
    return EditedEnv(
        env=env,
        obs_scale=jnp.asarray(variant.obs_scale(env.obs_size)),
        action_scale=jnp.asarray(variant.action_scale(env.action_size)),
    )


del eqx, jax
