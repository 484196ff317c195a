"""Progressive neural networks (Rusu et al. 2016): a new column per task, with lateral
connections from every earlier column, earlier columns frozen.

Column `k`, layer `l` (hidden layers `l >= 2` and the output layer):
`h^k_l = sigma(W^k_l h^k_{l-1} + b^k_l + sum_{j<k} U^{k:j}_l h^j_{l-1})`;
the first layer sees only the observation. Each column has its own output layer, so the
task heads are the columns' (the `head` argument is ignored).

All `T` columns and the `T (T-1) / 2` lateral maps are allocated up front (fixed shapes:
one compiled program for every task); the column being trained is an array, columns and
laterals of earlier tasks pass through `stop_gradient` (and each task starts a fresh
optimiser), so they stay bit-identical. Computing column `k` costs the forward passes of
all columns plus all lateral maps, about `T + T (T-1) / 2` plain networks.

Model size counts what exists after `n` tasks: `n` columns and the laterals between them.
The paper's table lists PNN as `T` policies (8.0 on the 8-task scenarios); with full
`n x n` lateral maps, as here and in the PNN agent of the authors' code base, the
laterals alone add `(T-1)/2 x` about one policy per task; see the README.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from rewire_eqx.methods.base import AbstractMethod, TaskEnd
from rewire_eqx.networks import (
    AbstractPolicyFn,
    AbstractPolicyNet,
    PlainMLP,
    hidden_activation,
)

__all__ = ["PNN", "PNNState", "ProgressiveMLP"]


def _freeze_except(array: Array, trainable: Array) -> Array:
    """`stop_gradient` on the leading-axis slices where `trainable` is False."""
    mask = trainable.reshape(trainable.shape + (1,) * (array.ndim - 1))
    return jnp.where(mask, array, jax.lax.stop_gradient(array))


class ProgressiveMLP(AbstractPolicyNet, AbstractPolicyFn):
    """`num_columns` columns (one `PlainMLP` with arrays stacked on a leading axis) and
    lateral maps `U^{k:j}_l` stacked over the pairs `j < k`; acts as column `column`."""

    columns: PlainMLP
    laterals: tuple[Float[Array, "pairs out in"], ...]
    column: Int[Array, ""]
    sources: tuple[int, ...] = eqx.field(static=True)
    targets: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        hidden_sizes: tuple[int, ...],
        out_size: int,
        *,
        num_columns: int,
        activation: str = "leaky_relu",
        first_layer_norm: bool = False,
        key,
    ):
        column_key, lateral_key = jax.random.split(key)
        self.columns = eqx.filter_vmap(
            lambda k: PlainMLP(
                in_size,
                hidden_sizes,
                out_size,
                num_heads=1,
                activation=activation,
                first_layer_norm=first_layer_norm,
                key=k,
            )
        )(jax.random.split(column_key, num_columns))
        pairs = [(j, k) for k in range(num_columns) for j in range(k)]
        self.sources = tuple(j for j, _ in pairs)
        self.targets = tuple(k for _, k in pairs)
        widths = (*hidden_sizes, out_size)
        keys = jax.random.split(lateral_key, len(widths) - 1)
        self.laterals = tuple(
            jax.random.uniform(
                k,
                (len(pairs), widths[i + 1], widths[i]),
                minval=-1.0 / np.sqrt(widths[i]),
                maxval=1.0 / np.sqrt(widths[i]),
            )
            for i, k in enumerate(keys)
        )
        self.column = jnp.zeros((), jnp.int32)

    @property
    def num_columns(self) -> int:
        return self.columns.hidden[0].weight.shape[0]

    @property
    def num_modes(self) -> int:
        return 1

    def with_mode(self, mode=0, *, key=None) -> ProgressiveMLP:
        return self

    def with_task(self, task) -> ProgressiveMLP:
        return eqx.tree_at(lambda n: n.column, self, jnp.asarray(task, jnp.int32))

    def __call__(self, x: Float[Array, " in_size"], *, head=0) -> Float[Array, " out"]:
        trainable = jnp.arange(self.num_columns) == self.column
        pair_trainable = jnp.asarray(self.targets, jnp.int32) == self.column
        sources = jnp.asarray(self.sources, jnp.int32)
        targets = jnp.asarray(self.targets, jnp.int32)
        head_layer = jax.tree.map(lambda a: a[:, 0], self.columns.heads)
        layers = (*self.columns.hidden, head_layer)
        h = jnp.broadcast_to(x, (self.num_columns, x.shape[0]))
        for i, layer in enumerate(layers):
            weight = _freeze_except(layer.weight, trainable)
            bias = _freeze_except(layer.bias, trainable)
            z = jnp.einsum("coi,ci->co", weight, h) + bias
            if i > 0 and sources.size:
                lateral = _freeze_except(self.laterals[i - 1], pair_trainable)
                z = z.at[targets].add(jnp.einsum("poi,pi->po", lateral, h[sources]))
            if i < len(layers) - 1:
                columns = self.columns
                z = hidden_activation(columns.activation, columns.first_layer_norm, i)(z)
            h = z
        return h[self.column]


class PNNState(eqx.Module):
    actor: ProgressiveMLP


class PNN(AbstractMethod):
    def init(self, *, key) -> PNNState:
        policy = self.policy
        actor = ProgressiveMLP(
            policy.in_size,
            self.column_sizes,
            policy.out_size,
            num_columns=policy.num_tasks,
            activation=policy.network.activation,
            first_layer_norm=policy.network.first_layer_norm,
            key=key,
        )
        return PNNState(actor=actor)

    def training_actor(self, state, task, *, key) -> ProgressiveMLP:
        return state.actor.with_task(task)

    def end_task(self, state, trained, task, end: TaskEnd):
        return PNNState(actor=trained), {}

    def policy_for_task(self, state, task) -> ProgressiveMLP:
        return state.actor.with_task(task)

    @property
    def column_sizes(self) -> tuple[int, ...]:
        """Hidden widths of a column: the network's, or every layer
        `MethodSpec.pnn_width` wide (the published code's columns are 96 wide)."""
        sizes = self.policy.network.hidden_sizes
        width = self.spec.method.pnn_width
        return tuple(width for _ in sizes) if width else sizes

    def column_params(self) -> int:
        """Weights and biases of one column."""
        widths = (self.policy.in_size, *self.column_sizes, self.policy.out_size)
        return sum(
            widths[i] * widths[i + 1] + widths[i + 1] for i in range(len(widths) - 1)
        )

    def lateral_params_per_pair(self) -> int:
        """Entries of the lateral maps from one column into another."""
        widths = (*self.column_sizes, self.policy.out_size)
        return sum(widths[i] * widths[i + 1] for i in range(len(widths) - 1))

    def policy_params(self, state, tasks_seen) -> int:
        pairs = tasks_seen * (tasks_seen - 1) // 2
        return tasks_seen * self.column_params() + pairs * self.lateral_params_per_pair()
