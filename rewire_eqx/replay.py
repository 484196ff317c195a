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

    Build with `ReplayBuffer.empty(capacity, obs_size, action_size)`. Each transition is
    one row of a single array (obs, action, reward, next obs, terminated side by side):
    one write and one gather per step. With one array per field, XLA fused the write into
    the reads of a round's updates and copied the whole buffer at every env step (13 ms
    per step at 1M transitions of 39 observations).
    """

    rows: Float[Array, "capacity width"]
    position: Int[Array, ""]
    size: Int[Array, ""]
    obs_size: int = eqx.field(static=True)
    action_size: int = eqx.field(static=True)

    @staticmethod
    def empty(capacity: int, obs_size: int, action_size: int) -> ReplayBuffer:
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be >= 1")
        return ReplayBuffer(
            rows=jnp.zeros((capacity, 2 * obs_size + action_size + 2)),
            position=jnp.zeros((), jnp.int32),
            size=jnp.zeros((), jnp.int32),
            obs_size=obs_size,
            action_size=action_size,
        )

    @property
    def capacity(self) -> int:
        return self.rows.shape[0]

    def _pack(self, batch: Transition) -> Float[Array, "batch width"]:
        return jnp.concatenate(
            [
                batch.obs,
                batch.action,
                batch.reward[:, None],
                batch.next_obs,
                batch.terminated[:, None],
            ],
            axis=1,
        )

    def _unpack(self, rows: Float[Array, "*batch width"]) -> Transition:
        o, a = self.obs_size, self.action_size
        return Transition(
            obs=rows[..., :o],
            action=rows[..., o : o + a],
            reward=rows[..., o + a],
            next_obs=rows[..., o + a + 1 : 2 * o + a + 1],
            terminated=rows[..., 2 * o + a + 1],
        )

    @property
    def data(self) -> Transition:
        """Every row as a `Transition` (leading `capacity` axis)."""
        return self._unpack(self.rows)

    def add(self, batch: Transition) -> ReplayBuffer:
        """Append a batch of transitions (leading axis), wrapping around."""
        count = batch.reward.shape[0]
        if count > self.capacity:
            raise ValueError(
                f"cannot add {count} rows to a buffer of capacity {self.capacity}"
            )
        rows = (self.position + jnp.arange(count)) % self.capacity
        return ReplayBuffer(
            rows=self.rows.at[rows].set(self._pack(batch)),
            position=(self.position + count) % self.capacity,
            size=jnp.minimum(self.size + count, self.capacity),
            obs_size=self.obs_size,
            action_size=self.action_size,
        )

    def sample(self, key: PRNGKeyArray, batch_size: int) -> Transition:
        """`batch_size` rows drawn uniformly with replacement from the filled part."""
        rows = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return self._unpack(self.rows[rows])
