"""PackNet (Mallya & Lazebnik 2018): one network shared by all tasks, each weight owned
by the task that kept it.

Every prunable weight (hidden layers, and the head when one head is shared) carries the
index of the task that owns it, or `FREE`. Task `t`:

1. claims every free weight (`claim`) and trains it, with the weights of earlier tasks
   used but frozen (`stop_gradient`, and a fresh optimiser per task, so they stay
   bit-identical);
2. keeps, per layer, the largest-magnitude share `1 / (T - t)` of what it claimed and
   frees the rest, set to zero (`prune`, the runner's `mid_task` hook), which splits
   the capacity evenly over the `T` tasks;
3. retrains what it kept for the last `MethodSpec.packnet_retrain_share` of its budget,
   or, with `packnet_retrain_updates` > 0 (the published code: 100k), for that many
   gradient updates from the task's replay buffer after its interaction budget.
   `packnet_prune_ratio` > 0 replaces the even split by the published rule: keep the
   largest `1 - ratio` of each layer's entries among the task's weights.

Task `i` is evaluated with the weights owned by tasks `<= i` (its mask). Biases belong
to the first task and are frozen after it, as in the original method; task heads are
per task already and are not masked. Model size: the weights plus one owner entry per
weight (2.0 policies, as the paper counts).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from rewire_eqx.methods.base import AbstractMethod, TaskEnd
from rewire_eqx.networks import AbstractPolicyNet, PlainMLP
from rewire_eqx.specs import build

__all__ = ["FREE", "PackNet", "PackNetMLP", "PackNetState", "keep_largest"]

FREE = -1
"""Owner index of a weight no task has kept."""


def keep_largest(
    weight: Float[Array, "..."], candidates: Array, count: Int[Array, ""] | int
) -> Array:
    """Mask of the `count` largest-magnitude entries of `weight` among `candidates`
    (exactly `count`, ties broken by position)."""
    score = jnp.where(candidates, jnp.abs(weight), -jnp.inf).ravel()
    rank = jnp.argsort(jnp.argsort(-score, stable=True), stable=True)
    return (rank < count).reshape(weight.shape) & candidates


class PackNetMLP(AbstractPolicyNet):
    """A `PlainMLP` whose prunable weights carry their owner task (see module doc)."""

    body: PlainMLP
    owners: tuple[Int[Array, "..."], ...]  # one per hidden layer (+ the shared head)
    task: Int[Array, ""]

    def __init__(self, body: PlainMLP):
        self.body = body
        self.owners = tuple(jnp.full(w.shape, FREE, jnp.int32) for w in self._weights(body))
        self.task = jnp.zeros((), jnp.int32)

    @staticmethod
    def _weights(body: PlainMLP) -> list[Array]:
        weights = [layer.weight for layer in body.hidden]
        if body.num_heads == 1:
            weights.append(body.heads.weight)
        return weights

    def _with_weights(self, weights, biases_trainable) -> PlainMLP:
        body = self.body
        hidden = tuple(
            eqx.tree_at(
                lambda lin: (lin.weight, lin.bias),
                layer,
                (
                    w,
                    jnp.where(
                        biases_trainable, layer.bias, jax.lax.stop_gradient(layer.bias)
                    ),
                ),
            )
            for layer, w in zip(body.hidden, weights)
        )
        body = eqx.tree_at(lambda b: b.hidden, body, hidden)
        if body.num_heads == 1:
            bias = body.heads.bias
            bias = jnp.where(biases_trainable, bias, jax.lax.stop_gradient(bias))
            body = eqx.tree_at(
                lambda b: (b.heads.weight, b.heads.bias), body, (weights[-1], bias)
            )
        return body

    @property
    def num_modes(self) -> int:
        return 1

    def with_mode(self, mode=0, *, key=None) -> PlainMLP:
        """The network training task `self.task`: earlier tasks' weights frozen, this
        task's trainable, free weights zero."""
        weights = [
            jnp.where(
                (owner >= 0) & (owner < self.task),
                jax.lax.stop_gradient(w),
                jnp.where(owner == self.task, w, 0.0),
            )
            for w, owner in zip(self._weights(self.body), self.owners)
        ]
        return self._with_weights(weights, self.task == 0)

    def with_task(self, task) -> PlainMLP:
        """The network of task `task`: the weights owned by tasks `<= task`."""
        weights = [
            jnp.where((owner >= 0) & (owner <= task), w, 0.0)
            for w, owner in zip(self._weights(self.body), self.owners)
        ]
        return self._with_weights(weights, False)

    def claim(self, task: int) -> PackNetMLP:
        """Task `task` takes every free weight."""
        owners = tuple(jnp.where(o == FREE, task, o) for o in self.owners)
        return eqx.tree_at(
            lambda n: (n.owners, n.task), self, (owners, jnp.asarray(task, jnp.int32))
        )

    def prune(self, keep_share: float, *, of_layer: bool = False) -> PackNetMLP:
        """Keep the largest-magnitude `keep_share` of the current task's weights in
        each layer (with `of_layer`, `keep_share` of the layer's entries, at most all
        of the task's: the published code's `1 - prune_coeff` rule); free the rest and
        set them to zero."""
        weights, owners = [], []
        for w, owner in zip(self._weights(self.body), self.owners):
            mine = owner == self.task
            base = w.size if of_layer else jnp.sum(mine)
            count = jnp.round(keep_share * base).astype(jnp.int32)
            kept = keep_largest(w, mine, count)
            freed = mine & ~kept
            owners.append(jnp.where(freed, FREE, owner))
            weights.append(jnp.where(freed, 0.0, w))
        body = self._with_raw_weights(weights)
        return eqx.tree_at(lambda n: (n.body, n.owners), self, (body, tuple(owners)))

    def zero_free(self) -> PackNetMLP:
        """Free weights are zero before the next task claims them."""
        weights = [
            jnp.where(owner == FREE, 0.0, w)
            for w, owner in zip(self._weights(self.body), self.owners)
        ]
        return eqx.tree_at(lambda n: n.body, self, self._with_raw_weights(weights))

    def _with_raw_weights(self, weights) -> PlainMLP:
        body = self.body
        hidden = tuple(
            eqx.tree_at(lambda lin: lin.weight, layer, w)
            for layer, w in zip(body.hidden, weights)
        )
        body = eqx.tree_at(lambda b: b.hidden, body, hidden)
        if body.num_heads == 1:
            body = eqx.tree_at(lambda b: b.heads.weight, body, weights[-1])
        return body


class PackNetState(eqx.Module):
    actor: PackNetMLP


class PackNet(AbstractMethod):
    def init(self, *, key) -> PackNetState:
        body = build(self.policy, key=key)
        assert isinstance(body, PlainMLP)
        return PackNetState(actor=PackNetMLP(body))

    def keep_share(self, task: int) -> float:
        """Share of its claimed weights task `task` keeps: an even split of what is
        left over the remaining tasks (the last task keeps everything)."""
        return 1.0 / (self.policy.num_tasks - task)

    def prune_task(self, actor: PackNetMLP, task: int) -> PackNetMLP:
        """Task `task`'s pruning: the even split, or with `packnet_prune_ratio` > 0 the
        largest `1 - ratio` of each layer's entries among the task's weights."""
        ratio = self.spec.method.packnet_prune_ratio
        if ratio > 0:
            return actor.prune(1.0 - ratio, of_layer=True)
        return actor.prune(self.keep_share(task))

    def offline_updates(self, task: int) -> int:
        """Gradient updates from the task's replay buffer after pruning, outside the
        interaction budget (the published code: 100k), scaled like the budget."""
        updates = self.spec.method.packnet_retrain_updates
        return max(1, round(updates * self.spec.scenario.budget_scale)) if updates else 0

    def training_actor(self, state, task, *, key) -> PackNetMLP:
        actor = state.actor.claim(task)
        body = self.continue_actor(actor.body, task)
        return eqx.tree_at(lambda a: a.body, actor, body)

    def mid_task_share(self, task: int) -> float:
        if self.offline_updates(task):  # retraining happens after the interaction
            return 0.0
        return self.spec.method.packnet_retrain_share

    def mid_task(self, actor, task) -> PackNetMLP:
        return self.prune_task(actor, task)

    def end_task(self, state, trained, task, end: TaskEnd):
        if self.mid_task_share(task) <= 0 and not self.offline_updates(task):
            trained = self.prune_task(trained, task)  # no retraining: prune at the end
        kept = [int(jnp.sum(o == task)) for o in trained.owners]
        return PackNetState(actor=trained.zero_free()), {"kept_weights": kept}

    def policy_for_task(self, state, task) -> PlainMLP:
        return state.actor.with_task(task)

    def policy_params(self, state, tasks_seen) -> int:
        return 2 * self.unit_params()
