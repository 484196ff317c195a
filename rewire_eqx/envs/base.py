"""Environment interfaces the learner sees.

* `AbstractEnv`: one environment with jittable, pure `reset` and `step`.
* `AbstractVecEnv`: a batch of environments stepped together, with episode truncation
  and automatic reset. The SAC learner only talks to this interface, so an environment
  stepped on the host (Meta-World, `envs.host.HostVecEnv`, through an ordered
  `io_callback`) plugs in without changing the learner. `JaxVecEnv` implements it for any `AbstractEnv` with `vmap`.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

__all__ = [
    "AbstractEnv",
    "AbstractVecEnv",
    "EnvState",
    "JaxVecEnv",
    "StepResult",
    "episode_counters",
    "first_state",
]


class AbstractEnv(eqx.Module):
    """One environment: `reset(key) -> (state, obs)`, `step(state, action) -> (state,
    obs, reward, terminated)`. Actions lie in [-1, 1]^action_size."""

    @property
    @abc.abstractmethod
    def obs_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def action_size(self) -> int: ...

    @abc.abstractmethod
    def reset(self, key: PRNGKeyArray) -> tuple[PyTree, Float[Array, " obs"]]: ...

    @abc.abstractmethod
    def step(
        self, state: PyTree, action: Float[Array, " act"]
    ) -> tuple[PyTree, Float[Array, " obs"], Float[Array, ""], Bool[Array, ""]]: ...


class EnvState(eqx.Module):
    """State of a batch of environments."""

    inner: PyTree  # the environments' own states, batched
    start: PyTree  # the states episodes restart from (auto-reset)
    start_obs: Float[Array, "envs obs"]
    obs: Float[Array, "envs obs"]
    steps: Int[Array, " envs"]
    returns: Float[Array, " envs"]
    key: PRNGKeyArray  # for fresh resets


def first_state(
    obs: Float[Array, "envs obs"], key: PRNGKeyArray, inner: PyTree = None
) -> EnvState:
    """The state of freshly reset envs: step counters and returns at 0; finished
    episodes restart from `inner` (None for envs whose state lives elsewhere)."""
    num_envs = obs.shape[0]
    return EnvState(
        inner=inner,
        start=inner,
        start_obs=obs,
        obs=obs,
        steps=jnp.zeros(num_envs, jnp.int32),
        returns=jnp.zeros(num_envs),
        key=key,
    )


def episode_counters(
    state: EnvState, reward: Float[Array, " envs"], done: Bool[Array, " envs"]
) -> tuple[Int[Array, " envs"], Float[Array, " envs"], Float[Array, " envs"]]:
    """After a step: the step counters and running returns (0 where an episode ended)
    and the finished episodes' returns (0 elsewhere)."""
    returns = state.returns + reward
    return (
        jnp.where(done, 0, state.steps + 1),
        jnp.where(done, 0.0, returns),
        jnp.where(done, returns, 0.0),
    )


class StepResult(eqx.Module):
    """What one step of every environment produced.

    `next_obs` is the observation reached by the action, *before* any automatic reset
    (bootstrapping needs it); the state's `obs` is already reset where `done`.
    `episode_return` holds the finished episode's return where `done`, 0 elsewhere.
    `success` is the task's own success flag of the step (Meta-World's
    `info["success"]`); False for environments without one.
    """

    reward: Float[Array, " envs"]
    next_obs: Float[Array, "envs obs"]
    terminated: Bool[Array, " envs"]
    truncated: Bool[Array, " envs"]
    episode_return: Float[Array, " envs"]
    success: Bool[Array, " envs"]

    @property
    def done(self) -> Bool[Array, " envs"]:
        return self.terminated | self.truncated


class AbstractVecEnv(eqx.Module):
    """A batch of `num_envs` environments with episodes of at most `episode_length`."""

    @property
    @abc.abstractmethod
    def num_envs(self) -> int: ...

    @property
    @abc.abstractmethod
    def episode_length(self) -> int: ...

    @property
    @abc.abstractmethod
    def obs_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def action_size(self) -> int: ...

    @abc.abstractmethod
    def reset(self, key: PRNGKeyArray) -> EnvState: ...

    @abc.abstractmethod
    def step(
        self, state: EnvState, actions: Float[Array, "envs act"]
    ) -> tuple[EnvState, StepResult]: ...

    def host_snapshot(self) -> bytes | None:
        """What these environments keep outside `EnvState` (host simulators), for a
        checkpoint; None when `EnvState` holds everything (JAX envs)."""
        return None

    def resync(self, state: EnvState, host: bytes | None = None) -> EnvState:
        """A state restored from a checkpoint, made consistent with the environments,
        given the `host_snapshot()` taken with it. The identity when `EnvState` holds
        everything (JAX envs); host-stepped envs are put back where they were, or
        restart their episodes when `host` is None."""
        return state

    @property
    def vmappable(self) -> bool:
        """Whether several seeds' copies of these environments can step under one
        `vmap` (`rewire_eqx.seeds`): true when `EnvState` holds everything."""
        return True


def _where(mask: Bool[Array, " envs"], a: PyTree, b: PyTree) -> PyTree:
    def pick(x, y):
        return jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - 1)), x, y)

    return jax.tree.map(pick, a, b)


class JaxVecEnv(AbstractVecEnv):
    """`vmap` over a jittable `AbstractEnv`, with truncation and automatic reset.

    By default finished episodes restart from the state the environment was first reset
    to (one per env, as brax's training wrappers do), so a step never pays for a reset;
    `fresh_resets=True` draws a new start state instead (for cheap environments).
    """

    env: AbstractEnv
    _num_envs: int = eqx.field(static=True)
    _episode_length: int = eqx.field(static=True)
    fresh_resets: bool = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnv,
        *,
        num_envs: int,
        episode_length: int,
        fresh_resets: bool = False,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        if episode_length < 1:
            raise ValueError(f"episode_length={episode_length} must be >= 1")
        self.env = env
        self._num_envs = num_envs
        self._episode_length = episode_length
        self.fresh_resets = fresh_resets

    @property
    def num_envs(self) -> int:
        return self._num_envs

    @property
    def episode_length(self) -> int:
        return self._episode_length

    @property
    def obs_size(self) -> int:
        return self.env.obs_size

    @property
    def action_size(self) -> int:
        return self.env.action_size

    def reset(self, key: PRNGKeyArray) -> EnvState:
        reset_key, key = jax.random.split(key)
        inner, obs = jax.vmap(self.env.reset)(jax.random.split(reset_key, self.num_envs))
        return first_state(obs, key, inner)

    def step(
        self, state: EnvState, actions: Float[Array, "envs act"]
    ) -> tuple[EnvState, StepResult]:
        inner, next_obs, reward, terminated = jax.vmap(self.env.step)(state.inner, actions)
        reward = reward.astype(jnp.float32)
        terminated = terminated.astype(bool)
        truncated = (state.steps + 1 >= self.episode_length) & ~terminated
        done = terminated | truncated
        steps, returns, episode_return = episode_counters(state, reward, done)
        key = state.key
        start, start_obs = state.start, state.start_obs
        if self.fresh_resets:
            key, reset_key = jax.random.split(key)
            keys = jax.random.split(reset_key, self.num_envs)
            start, start_obs = jax.vmap(self.env.reset)(keys)
        new_state = EnvState(
            inner=_where(done, start, inner),
            start=state.start,
            start_obs=state.start_obs,
            obs=_where(done, start_obs, next_obs),
            steps=steps,
            returns=returns,
            key=key,
        )
        result = StepResult(
            reward=reward,
            next_obs=next_obs,
            terminated=terminated,
            truncated=truncated,
            episode_return=episode_return,
            success=jnp.zeros(self.num_envs, bool),
        )
        return new_state, result
