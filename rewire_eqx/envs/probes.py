"""Probe environments with known values, for testing the SAC learner (after rejax).

Each isolates one part of the learner: value regression, discounting, the policy
gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from rewire_eqx.envs.base import AbstractEnv

__all__ = ["AbstractProbe", "ConstantRewardProbe", "SignProbe", "TwoStepProbe"]


class AbstractProbe(AbstractEnv):
    """A probe: one observation, one action; starts in state 0 with observation 0."""

    @property
    def obs_size(self) -> int:
        return 1

    @property
    def action_size(self) -> int:
        return 1

    def reset(self, key: PRNGKeyArray):
        return jnp.zeros(()), jnp.zeros(1)


class ConstantRewardProbe(AbstractProbe):
    """One step, reward 1 whatever the action, then termination: Q(s, a) = 1."""

    def step(self, state, action):
        return state, jnp.zeros(1), jnp.ones(()), jnp.ones((), bool)


class TwoStepProbe(AbstractProbe):
    """Two steps: reward 0 then 1, then termination: Q(s0) = gamma, Q(s1) = 1.

    The observation is the step index, so the critic can tell the states apart.
    """

    def step(
        self, state, action
    ) -> tuple[Array, Float[Array, "1"], Array, Bool[Array, ""]]:
        last = state >= 1
        next_state = state + 1
        return next_state, next_state[None], last.astype(jnp.float32), last


class SignProbe(AbstractProbe):
    """One step; the observation is +-1 at random and the reward is `obs * action`.

    The optimal policy acts with the observation's sign, at the bound: a(+1) -> +1,
    a(-1) -> -1, so Q* = 1.
    """

    def reset(self, key: PRNGKeyArray):
        sign = jnp.where(jax.random.bernoulli(key), 1.0, -1.0)
        return sign, sign[None]

    def step(self, state, action):
        return state, state[None], state * action[0], jnp.ones((), bool)
