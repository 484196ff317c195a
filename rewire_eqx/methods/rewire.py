"""The paper's method: rewiring with K modes, a cached wiring per task, alignment.

Task end (Sections 3.3-3.4): evaluate every mode and keep the best; roll back weights
and scores if it does not beat the pre-task policy (CSP's rule, threshold 0); refine all
earlier cached orders with the adapters (Eq. 12); cache the kept wiring for this task;
restart the adapters and all K score vectors from the kept wiring; anchor the
regulariser (Eq. 11, or Eq. 7 when alignment is switched off) at the new weights.
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np

from rewire_eqx.losses import AbstractRegulariser, AlignmentRegulariser, L2Regulariser
from rewire_eqx.methods.base import AbstractMethod, TaskEnd
from rewire_eqx.networks import (
    PlainMLP,
    RewiredMLP,
    cache_wiring,
    parameter_counts,
    refine_cached_orders,
    reset_adapters,
    restart_scores,
)
from rewire_eqx.specs import build

__all__ = ["Rewire", "RewireState"]


class RewireState(eqx.Module):
    actor: RewiredMLP
    anchor: PlainMLP  # the body at the end of the previous task


class Rewire(AbstractMethod):
    def init(self, *, key) -> RewireState:
        actor = build(self.policy, key=key)
        assert isinstance(actor, RewiredMLP)
        return RewireState(actor=actor, anchor=actor.body)

    def training_actor(self, state: RewireState, task: int, *, key) -> RewiredMLP:
        return self.continue_actor(state.actor, task)

    def regulariser(self, state: RewireState, task: int) -> AbstractRegulariser:
        losses = self.spec.losses
        if self.spec.method.alignment:
            return AlignmentRegulariser(state.anchor, losses.align_beta if task else 0.0)
        return L2Regulariser(state.anchor, losses.l2_coef if task else 0.0)

    def end_task(self, state, trained, task, end: TaskEnd):
        method = self.spec.method
        rewards = [end.evaluate(trained.with_mode(k)) for k in range(trained.num_modes)]
        mode = int(np.argmax(rewards))
        rolled_back = bool(
            method.rollback
            and end.reward_before is not None
            and rewards[mode] <= end.reward_before
        )
        if rolled_back:
            # the pre-task actor (with this task's head copied in); its modes are equal
            actor, mode = self.training_actor(state, task, key=jax.random.key(0)), 0
            actor = reset_adapters(actor)
        else:
            actor = trained
        if method.caching:
            if method.alignment:
                actor = refine_cached_orders(actor, num_tasks=task)
            actor = cache_wiring(actor, mode=mode, task=task)
        actor = reset_adapters(restart_scores(actor, mode=mode))
        facts = {"mode_rewards": rewards, "kept_mode": mode, "rolled_back": rolled_back}
        return RewireState(actor=actor, anchor=actor.body), facts

    def policy_for_task(self, state: RewireState, task: int) -> PlainMLP:
        if self.spec.method.caching:
            return state.actor.with_task(task)
        return state.actor.with_mode(0)

    def policy_params(self, state: RewireState, tasks_seen: int) -> int:
        counts = parameter_counts(state.actor)
        unit = self.unit_params()
        anchor = unit if tasks_seen > 1 else 0
        wirings = tasks_seen * counts.wiring_entries if self.spec.method.caching else 0
        return unit + anchor + counts.scores + counts.adapters + wirings
