"""A pendulum swing-up in pure JAX, with its physical parameters as arrays so that task
variants (mass, length, gravity) share one compiled program."""

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
    """Swing a pendulum up and balance it with one torque action in [-1, 1].

    Dynamics (the classic control task's, semi-implicit Euler, dt = 0.05):
    `theta_dot += (3 g / (2 l) sin(theta) + 3 u / (m l^2)) dt`, clipped to +-8, with
    `u = 2 a` and `theta = 0` upright. Reward per step, in [-0.33, 1]: the height
    `(1 + cos theta) / 2` minus `0.005 theta_dot^2`, so returns are positive and
    normalising by a reference return is meaningful (over 200 steps a uniformly random
    policy scores about 55, a learned swing-up and balance about 180). Observation:
    `(cos theta, sin theta, theta_dot)`. Episodes start at a uniform angle and a speed
    in [-1, 1].
    """

    gravity: Float[Array, ""]
    mass: Float[Array, ""]
    length: Float[Array, ""]
    max_torque: float = eqx.field(static=True)
    max_speed: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)

    def __init__(
        self,
        *,
        gravity: float = 10.0,
        mass: float = 1.0,
        length: float = 1.0,
        max_torque: float = 2.0,
        max_speed: float = 8.0,
        dt: float = 0.05,
    ):
        self.gravity = jnp.asarray(gravity, jnp.float32)
        self.mass = jnp.asarray(mass, jnp.float32)
        self.length = jnp.asarray(length, jnp.float32)
        self.max_torque = max_torque
        self.max_speed = max_speed
        self.dt = dt

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
        torque = self.max_torque * jnp.clip(action[0], -1.0, 1.0)
        reward = 0.5 * (1.0 + jnp.cos(state.theta)) - 0.005 * state.theta_dot**2
        g, m, l, dt = self.gravity, self.mass, self.length, self.dt
        theta_dot = (
            state.theta_dot
            + (3 * g / (2 * l) * jnp.sin(state.theta) + 3.0 / (m * l**2) * torque) * dt
        )
        theta_dot = jnp.clip(theta_dot, -self.max_speed, self.max_speed)
        new = PendulumState(theta=state.theta + theta_dot * dt, theta_dot=theta_dot)
        return new, self._obs(new), reward, jnp.zeros((), bool)
