"""A pendulum swing-up in pure JAX (the classic control task's dynamics), with physical
parameters as fields so that task variants are data."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from rewire_eqx.envs.base import AbstractEnv

__all__ = ["Pendulum"]


class PendulumState(eqx.Module):
    theta: Float[Array, ""]
    theta_dot: Float[Array, ""]


class Pendulum(AbstractEnv):
    """Swing a pendulum up and balance it; one torque action in [-1, 1].

    Dynamics (semi-implicit Euler, dt = 0.05): `theta_dot += (3 g / (2 l) sin(theta) +
    3 u / (m l^2)) dt`, clipped to +-8; `u = max_torque * action_gain * a`. Reward:
    `-(angle^2 + 0.1 theta_dot^2 + 0.001 u^2)` with the angle wrapped to [-pi, pi)
    (0 is upright). Observation: `(cos theta, sin theta, theta_dot)`. Episodes start
    at a uniform angle and a speed in [-1, 1].
    """

    gravity: float = eqx.field(static=True, default=10.0)
    mass: float = eqx.field(static=True, default=1.0)
    length: float = eqx.field(static=True, default=1.0)
    action_gain: float = eqx.field(static=True, default=1.0)
    """Multiplies the action: -1 inverts it."""
    max_torque: float = eqx.field(static=True, default=2.0)
    max_speed: float = eqx.field(static=True, default=8.0)
    dt: float = eqx.field(static=True, default=0.05)

    @property
    def obs_size(self) -> int:
        return 3

    @property
    def action_size(self) -> int:
        return 1

    def _obs(self, state: PendulumState) -> Float[Array, "3"]:
        return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot])

    def reset(self, key: PRNGKeyArray):
        angle_key, speed_key = jax.random.split(key)
        state = PendulumState(
            theta=jax.random.uniform(angle_key, (), minval=-jnp.pi, maxval=jnp.pi),
            theta_dot=jax.random.uniform(speed_key, (), minval=-1.0, maxval=1.0),
        )
        return state, self._obs(state)

    def step(self, state: PendulumState, action: Float[Array, "1"]):
        torque = self.max_torque * jnp.clip(self.action_gain * action[0], -1.0, 1.0)
        angle = (state.theta + jnp.pi) % (2 * jnp.pi) - jnp.pi
        reward = -(angle**2 + 0.1 * state.theta_dot**2 + 0.001 * torque**2)
        g, m, l, dt = self.gravity, self.mass, self.length, self.dt
        theta_dot = (
            state.theta_dot
            + (3 * g / (2 * l) * jnp.sin(state.theta) + 3.0 / (m * l**2) * torque) * dt
        )
        theta_dot = jnp.clip(theta_dot, -self.max_speed, self.max_speed)
        new = PendulumState(theta=state.theta + theta_dot * dt, theta_dot=theta_dot)
        return new, self._obs(new), reward, jnp.zeros((), bool)
