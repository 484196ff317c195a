"""A replay buffer that is a JAX PyTree: a ring buffer of transitions."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

__all__ = ["ReplayBuffer", "Transition"]


class Transition(eqx.Module):
    """One transition per row. `terminated` is 1 where the episode ended by termination
    (no bootstrap); a truncated episode keeps `terminated = 0` and bootstraps."""

    obs: Float[Array, "*batch obs"]
    action: Float[Array, "*batch act"]
    reward: Float[Array, "*batch"]
    next_obs: Float[Array, "*batch obs"]
    terminated: Float[Array, "*batch"]


class ReplayBuffer(eqx.Module):
    """Fixed-capacity ring buffer; `add` overwrites the oldest rows once full.

    Build with `ReplayBuffer.empty(capacity, obs_size, action_size)`.
    """

    data: Transition  # every leaf has a leading `capacity` axis
    position: Int[Array, ""]
    size: Int[Array, ""]

    @staticmethod
    def empty(capacity: int, obs_size: int, action_size: int) -> ReplayBuffer:
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be >= 1")
        return ReplayBuffer(
            data=Transition(
                obs=jnp.zeros((capacity, obs_size)),
                action=jnp.zeros((capacity, action_size)),
                reward=jnp.zeros(capacity),
                next_obs=jnp.zeros((capacity, obs_size)),
                terminated=jnp.zeros(capacity),
            ),
            position=jnp.zeros((), jnp.int32),
            size=jnp.zeros((), jnp.int32),
        )

    @property
    def capacity(self) -> int:
        return self.data.reward.shape[0]

    def add(self, batch: Transition) -> ReplayBuffer:
        """Append a batch of transitions (leading axis), wrapping around."""
        count = batch.reward.shape[0]
        if count > self.capacity:
            raise ValueError(
                f"cannot add {count} rows to a buffer of capacity {self.capacity}"
            )
        rows = (self.position + jnp.arange(count)) % self.capacity
        data = jax.tree.map(lambda store, new: store.at[rows].set(new), self.data, batch)
        return ReplayBuffer(
            data=data,
            position=(self.position + count) % self.capacity,
            size=jnp.minimum(self.size + count, self.capacity),
        )

    def sample(self, key: PRNGKeyArray, batch_size: int) -> Transition:
        """`batch_size` rows drawn uniformly with replacement from the filled part."""
        rows = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return jax.tree.map(lambda store: store[rows], self.data)
