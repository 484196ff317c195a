"""Environments stepped on the host (Python), inside the jitted learner.

`HostVecEnv` implements `AbstractVecEnv` for a batch of environments that live outside
JAX (Meta-World's MuJoCo tasks): every `reset` and `step` is a
`jax.experimental.io_callback` (ordered, so the host sees the calls in program order),
which lets `sac.train_chunk`'s `lax.scan` collect from them unchanged, in one
compilation.

The host side is a `HostEngine`, held in a module-level registry; the `HostVecEnv` holds
only the engine's *handle* as an array, so every task of a run (each with its own engine,
all of one shape) shares one compiled program. `GymnasiumEngine` runs gymnasium envs in
a `SyncVectorEnv` with same-step auto-reset: the step that ends an episode returns the
first observation of the next one, and the last observation and `info` of the finished
episode come back beside it, as `JaxVecEnv` does.

The envs' own state (MuJoCo's, the goal, the episode's step, the env's generator) lives
on the host and is not in `EnvState`. A mid-task checkpoint stores it beside the train
state (`HostVecEnv.host_snapshot`, taken by `envs.host_state`), and `HostVecEnv.resync` puts
it back, so a resumed run steps exactly as an uninterrupted one; an engine that cannot
take its state (`HostEngine.snapshot` gives None) resumes with freshly reset episodes.
"""

from __future__ import annotations

import abc
import dataclasses
import pickle
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback
from jaxtyping import Array, Float, Int, PRNGKeyArray

from rewire_eqx.envs import host_state
from rewire_eqx.envs.base import (
    AbstractVecEnv,
    EnvState,
    StepResult,
    episode_counters,
    first_state,
)

__all__ = ["GymnasiumEngine", "HostEngine", "HostStep", "HostVecEnv", "register_engine"]


class HostStep(NamedTuple):
    """What a host engine's step returns, as NumPy arrays of the batch."""

    next_obs: np.ndarray  # (envs, obs): reached by the action, before any reset
    reward: np.ndarray  # (envs,)
    terminated: np.ndarray  # (envs,) bool
    truncated: np.ndarray  # (envs,) bool
    success: np.ndarray  # (envs,) bool
    obs: np.ndarray  # (envs, obs): after the automatic reset where done


class HostEngine(abc.ABC):
    """A batch of host environments with automatic reset."""

    num_envs: int
    obs_size: int
    action_size: int

    @abc.abstractmethod
    def reset(self, seed: int) -> np.ndarray:
        """Seed every env (env i with `seed + i`), reset them; the observations."""

    @abc.abstractmethod
    def step(self, actions: np.ndarray) -> HostStep: ...

    def snapshot(self) -> bytes | None:
        """The envs' whole state, for an exact mid-task checkpoint; None when this engine
        cannot take it (its envs then restart their episodes on resume)."""
        return None

    def restore(self, blob: bytes) -> None:
        """Put back a `snapshot()` taken from an engine built the same way."""
        raise NotImplementedError(f"{type(self).__name__} takes no snapshots")


_ENGINES: list[HostEngine] = []


def register_engine(engine: HostEngine) -> int:
    """Keep `engine` for the process's lifetime; its handle for `HostVecEnv`."""
    _ENGINES.append(engine)
    return len(_ENGINES) - 1


def _engine(handle) -> HostEngine:
    return _ENGINES[int(handle)]


def _host_reset(handle, seed):
    engine = _engine(handle)
    return np.asarray(engine.reset(int(seed)), np.float32)


def _host_step(handle, actions):
    out = _engine(handle).step(np.asarray(actions, np.float64))
    return (
        np.asarray(out.next_obs, np.float32),
        np.asarray(out.reward, np.float32),
        np.asarray(out.terminated, bool),
        np.asarray(out.truncated, bool),
        np.asarray(out.success, bool),
        np.asarray(out.obs, np.float32),
    )


class HostVecEnv(AbstractVecEnv):
    """`AbstractVecEnv` over a registered `HostEngine` (see the module docstring).

    The engine ends its own episodes (Meta-World truncates at its `max_path_length`,
    set to `episode_length`); `episode_length` bounds evaluation rollouts."""

    handle: Int[Array, ""]
    _num_envs: int = eqx.field(static=True)
    _episode_length: int = eqx.field(static=True)
    _obs_size: int = eqx.field(static=True)
    _action_size: int = eqx.field(static=True)

    def __init__(self, engine: HostEngine, *, episode_length: int):
        if episode_length < 1:
            raise ValueError(f"episode_length={episode_length} must be >= 1")
        self.handle = jnp.asarray(register_engine(engine), jnp.int32)
        self._num_envs = int(engine.num_envs)
        self._episode_length = int(episode_length)
        self._obs_size = int(engine.obs_size)
        self._action_size = int(engine.action_size)

    @property
    def num_envs(self) -> int:
        return self._num_envs

    @property
    def episode_length(self) -> int:
        return self._episode_length

    @property
    def obs_size(self) -> int:
        return self._obs_size

    @property
    def action_size(self) -> int:
        return self._action_size

    def _obs_shape(self):
        return jax.ShapeDtypeStruct((self.num_envs, self.obs_size), jnp.float32)

    def reset(self, key: PRNGKeyArray) -> EnvState:
        seed_key, key = jax.random.split(key)
        seed = jax.random.randint(seed_key, (), 0, 2**30, dtype=jnp.int32)
        obs = io_callback(_host_reset, self._obs_shape(), self.handle, seed, ordered=True)
        return first_state(obs, key)

    def step(
        self, state: EnvState, actions: Float[Array, "envs act"]
    ) -> tuple[EnvState, StepResult]:
        n = self.num_envs
        flags = jax.ShapeDtypeStruct((n,), jnp.bool_)
        shapes = (
            self._obs_shape(),
            jax.ShapeDtypeStruct((n,), jnp.float32),
            flags,
            flags,
            flags,
            self._obs_shape(),
        )
        next_obs, reward, terminated, truncated, success, obs = io_callback(
            _host_step, shapes, self.handle, actions, ordered=True
        )
        truncated = truncated & ~terminated
        steps, returns, episode_return = episode_counters(
            state, reward, terminated | truncated
        )
        new_state = dataclasses.replace(state, obs=obs, steps=steps, returns=returns)
        result = StepResult(
            reward=reward,
            next_obs=next_obs,
            terminated=terminated,
            truncated=truncated,
            episode_return=episode_return,
            success=success,
        )
        return new_state, result

    @property
    def engine(self) -> HostEngine:
        """The host side: the environments themselves."""
        return _engine(self.handle)

    def host_snapshot(self) -> bytes | None:
        return self.engine.snapshot()

    def resync(self, state: EnvState, host: bytes | None = None) -> EnvState:
        """After restoring `state` from a checkpoint: with `host` (this env's
        `host_snapshot()` when `state` was saved) the host envs are put back where they
        were and `state` is kept; without, they restart their episodes (seeded from the
        state's key) and the state follows them."""
        if host is not None:
            self.engine.restore(host)
            return state
        return self.reset(state.key)

    @property
    def vmappable(self) -> bool:
        """False: the engine's environments live on the host, one set per instance."""
        return False


class GymnasiumEngine(HostEngine):
    """Gymnasium envs in a `SyncVectorEnv` with same-step auto-reset.

    `make_env()` builds one env; `seed_env(env, seed)` seeds it (for envs whose
    `reset(seed=)` ignores the seed, such as Meta-World's); `info[success_key]` is the
    step's success flag.
    """

    def __init__(
        self,
        make_env: Callable[[], object],
        *,
        num_envs: int,
        seed_env: Callable[[object, int], None] | None = None,
        success_key: str = "success",
    ):
        import gymnasium

        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        self.vec = gymnasium.vector.SyncVectorEnv(
            [make_env for _ in range(num_envs)],
            autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP,
        )
        self.num_envs = num_envs
        self.obs_size = int(np.prod(self.vec.single_observation_space.shape))
        self.action_size = int(np.prod(self.vec.single_action_space.shape))
        self.seed_env = seed_env
        self.success_key = success_key

    def reset(self, seed: int) -> np.ndarray:
        if self.seed_env is None:
            obs, _ = self.vec.reset(seed=seed)
        else:
            for i, env in enumerate(self.vec.envs):
                self.seed_env(env, seed + i)
            obs, _ = self.vec.reset()
        return obs.reshape(self.num_envs, -1)

    def snapshot(self) -> bytes:
        """Every env's whole state (`envs.host_state.take`)."""
        return pickle.dumps([host_state.take(env) for env in self.vec.envs])

    def restore(self, blob: bytes) -> None:
        states = pickle.loads(blob)
        if len(states) != self.num_envs:
            raise ValueError(
                f"the snapshot holds {len(states)} envs, this engine {self.num_envs}"
            )
        for env, state in zip(self.vec.envs, states):
            host_state.put_back(env, state)

    def _per_env(self, info: dict, key: str) -> np.ndarray:
        """`info[key]` per env as floats, 0 for envs that did not report it."""
        values = np.zeros(self.num_envs)
        if key in info:
            mask = info.get(f"_{key}", np.ones(self.num_envs, bool))
            values[mask] = np.asarray(info[key])[mask]
        return values

    def step(self, actions: np.ndarray) -> HostStep:
        obs, reward, terminated, truncated, info = self.vec.step(actions)
        obs = np.asarray(obs, np.float64).reshape(self.num_envs, -1)
        done = np.logical_or(terminated, truncated)
        success = self._per_env(info, self.success_key) > 0
        next_obs = obs.copy()
        if done.any():
            final_obs = info["final_obs"]
            final_info = info["final_info"]
            final_success = self._per_env(final_info, self.success_key) > 0
            for i in np.flatnonzero(done):
                next_obs[i] = np.asarray(final_obs[i], np.float64).reshape(-1)
                success[i] = final_success[i]
        return HostStep(
            next_obs=next_obs,
            reward=np.asarray(reward, np.float64),
            terminated=np.asarray(terminated, bool),
            truncated=np.asarray(truncated, bool),
            success=success,
            obs=obs,
        )
