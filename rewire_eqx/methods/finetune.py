"""Fine-tuning baselines: FT-1, FT-L2, FT-N and SAC-N (a fresh policy per task)."""

from __future__ import annotations

import equinox as eqx
import jax

from rewire_eqx.losses import AbstractRegulariser, L2Regulariser, NoRegulariser
from rewire_eqx.methods.base import AbstractMethod, TaskEnd
from rewire_eqx.networks import PlainMLP
from rewire_eqx.specs import build

__all__ = ["FineTune", "FineTuneState", "PolicyPerTask", "PolicyPerTaskState"]


class FineTuneState(eqx.Module):
    actor: PlainMLP
    anchor: PlainMLP


class FineTune(AbstractMethod):
    """FT-1 (one policy, fine-tuned task after task) and, with `l2=True`, FT-L2 (an L2
    pull to the previous task's weights, Eq. 7, coefficient `losses.l2_coef`)."""

    def __init__(self, spec, policy, *, l2: bool):
        super().__init__(spec, policy)
        self.l2 = l2

    def init(self, *, key) -> FineTuneState:
        actor = build(self.policy, key=key)
        return FineTuneState(actor=actor, anchor=actor)

    def training_actor(self, state, task, *, key) -> PlainMLP:
        return self.continue_actor(state.actor, task)

    def regulariser(self, state, task) -> AbstractRegulariser:
        if self.l2:
            return L2Regulariser(state.anchor, self.spec.losses.l2_coef if task else 0.0)
        return NoRegulariser()

    def end_task(self, state, trained, task, end: TaskEnd):
        return FineTuneState(actor=trained, anchor=trained), {}

    def policy_for_task(self, state, task) -> PlainMLP:
        return state.actor

    def policy_params(self, state, tasks_seen) -> int:
        return self.unit_params() * (2 if self.l2 and tasks_seen > 1 else 1)


class PolicyPerTaskState(eqx.Module):
    actor: PlainMLP
    snapshots: PlainMLP  # arrays stacked on a leading `tasks` axis


class PolicyPerTask(AbstractMethod):
    """FT-N (fine-tune, keep a copy of the policy after each task) and, with
    `fresh=True`, SAC-N (a freshly initialised policy for every task)."""

    def __init__(self, spec, policy, *, fresh: bool):
        super().__init__(spec, policy)
        self.fresh = fresh

    def init(self, *, key) -> PolicyPerTaskState:
        actor = build(self.policy, key=key)
        snapshots = jax.tree.map(
            lambda a: jax.numpy.stack([a] * self.policy.num_tasks), actor
        )
        return PolicyPerTaskState(actor=actor, snapshots=snapshots)

    def training_actor(self, state, task, *, key) -> PlainMLP:
        if self.fresh:
            return build(self.policy, key=key)
        return self.continue_actor(state.actor, task)

    def end_task(self, state, trained, task, end: TaskEnd):
        snapshots = jax.tree.map(lambda s, a: s.at[task].set(a), state.snapshots, trained)
        return PolicyPerTaskState(actor=trained, snapshots=snapshots), {}

    def policy_for_task(self, state, task) -> PlainMLP:
        return jax.tree.map(lambda s: s[task], state.snapshots)

    def policy_params(self, state, tasks_seen) -> int:
        return self.unit_params() * tasks_seen
