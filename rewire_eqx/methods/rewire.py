"""The paper's method: rewiring with K modes, a cached wiring per task slot, alignment.

Task start: the actor carried from the previous task, its slot's head (a copy of the
previous head for a new slot), and the K score vectors restarted from the slot's
cached wiring when the slot comes back (`task >= cycle`), then re-spaced evenly.

Task end (Sections 3.3-3.4, as the published code does it): from the second task on,
evaluate every mode and keep the best; roll back when its reward is strictly below the
pre-task policy's (CSP's rule): hidden weights, the slot's head, the scores and the
adapters return to their values at the task's start (the critic is not restored). The
first task keeps mode 0 unevaluated. Then the adapters refine the cached orders of the
earlier slots (Eq. 12), the kept mode's order is cached into the task's slot, all K
score vectors restart from it, new identity adapters are created, and the regulariser
(Eq. 11, or Eq. 7 when alignment is switched off) is anchored at the new weights.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from rewire_eqx import permutation as perm
from rewire_eqx.losses import (
    AbstractRegulariser,
    AlignmentRegulariser,
    L2Regulariser,
    gaussian_head,
)
from rewire_eqx.methods.base import AbstractMethod, TaskEnd
from rewire_eqx.networks import (
    PlainMLP,
    RewiredMLP,
    aligned_anchor_layer,
    cache_wiring,
    parameter_counts,
    refine_cached_orders,
    reset_adapters,
    respace_scores,
    restart_scores,
    restart_scores_from_slot,
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
        actor = self.continue_actor(state.actor, task)
        if self.spec.method.caching and task >= self.policy.num_slots:
            actor = restart_scores_from_slot(actor, slot=self.policy.slot_of_task(task))
        return respace_scores(actor)

    def regulariser(self, state: RewireState, task: int) -> AbstractRegulariser:
        losses = self.spec.losses
        if self.spec.method.alignment:
            return AlignmentRegulariser(state.anchor, losses.align_beta if task else 0.0)
        return L2Regulariser(state.anchor, losses.l2_coef if task else 0.0)

    def wiring_moved(
        self, before: RewireState, task: int, after: RewiredMLP, mode: int
    ) -> list[float]:
        """Per hidden layer, the share of neurons whose place in mode `mode`'s hard
        order of `after` differs from the order task `task` started from (the wiring
        `training_actor` gives when `before` is the state at the task's start)."""
        start = self.training_actor(before, task, key=jax.random.key(0)).mode_orders(0)
        return [float(jnp.mean(a != b)) for a, b in zip(start, after.mode_orders(mode))]

    def wiring_displacement(
        self, before: RewireState, task: int, after: RewiredMLP, mode: int
    ) -> list[float]:
        """Per hidden layer, how far the neurons moved between the same two orders as
        `wiring_moved`: the mean |change of a neuron's position| over the layer width n
        (a uniformly random re-ordering gives (n^2 - 1) / (3 n^2), about 1/3)."""
        start = self.training_actor(before, task, key=jax.random.key(0)).mode_orders(0)
        return [
            float(jnp.mean(jnp.abs(jnp.argsort(a) - jnp.argsort(b))) / a.shape[0])
            for a, b in zip(start, after.mode_orders(mode))
        ]

    def alignment_facts(self, state: RewireState, trained: RewiredMLP) -> dict:
        """How the trained actor sits against the anchor, per hidden layer: the share of
        neurons each adapter moves (output side, input side), the relative alignment
        residual `||W - Z^T W_old A|| / ||W_old||`, and the relative drift
        `||W - W_old|| / ||W_old||` (weights and biases)."""
        out_moved, in_moved, residual, drift = [], [], [], []
        for l, (layer, old) in enumerate(zip(trained.body.hidden, state.anchor.hidden)):
            current = jnp.concatenate([layer.weight, layer.bias[:, None]], 1)
            anchor = jnp.concatenate([old.weight, old.bias[:, None]], 1)
            target = aligned_anchor_layer(trained, state.anchor, l)
            scale = float(jnp.linalg.norm(anchor))
            residual.append(float(jnp.linalg.norm(current - target)) / scale)
            drift.append(float(jnp.linalg.norm(current - anchor)) / scale)
            order = perm.order_from_scores(trained.adapter_out[l])
            out_moved.append(float(jnp.mean(order != jnp.arange(order.shape[0]))))
        for scores in trained.adapter_in:
            order = perm.order_from_scores(scores)
            in_moved.append(float(jnp.mean(order != jnp.arange(order.shape[0]))))
        return {
            "adapter_out_moved": out_moved,
            "adapter_in_moved": in_moved,
            "alignment_residual": residual,
            "weight_drift": drift,
        }

    def noise_facts(
        self, actor: RewiredMLP, mode: int, task: int, observations, *, draws: int = 16
    ) -> dict:
        """What the published Gumbel noise does to an update pass of mode `mode`: per
        hidden layer the mean share of neurons whose place in the noisy hard order
        differs from the noise-free one, and the mean absolute difference of the
        deterministic action `tanh(mu)` between the noisy-order network (the one the
        published code differentiates) and the noise-free one (the one that acts), over
        `observations` and `draws` noise draws. Zero when the scale is 0."""
        head = self.policy.head_of_task(task)
        clean = actor.mode_orders(mode)

        def action(net):
            out = jax.vmap(lambda o: net(o, head=head))(observations)
            return jnp.tanh(gaussian_head(out)[0])

        reference = action(actor.with_orders(clean))
        displaced, shift = [], []
        for key in jax.random.split(jax.random.key(task), draws):
            keys = jax.random.split(key, len(actor.scores))
            noisy = tuple(
                perm.order_from_scores(
                    perm.perturb_scores(s[mode], scale=actor.noise_scale, key=k)
                )
                for s, k in zip(actor.scores, keys)
            )
            displaced.append([float(jnp.mean(a != b)) for a, b in zip(noisy, clean)])
            shift.append(
                float(jnp.mean(jnp.abs(action(actor.with_orders(noisy)) - reference)))
            )
        return {
            "noise_displaced": [float(x) for x in np.mean(displaced, axis=0)],
            "noise_action_shift": float(np.mean(shift)),
        }

    def end_task(self, state, trained, task, end: TaskEnd):
        method = self.spec.method
        diagnostics = self.alignment_facts(state, trained) if task else {}
        if task == 0 or end.reward_before is None:
            rewards, mode = [], 0
        else:
            rewards = [end.evaluate(trained.with_mode(k)) for k in range(trained.num_modes)]
            mode = int(np.argmax(rewards))
        rolled_back = bool(
            method.rollback and rewards and rewards[mode] < end.reward_before
        )
        if rolled_back:
            # the actor as it started the task: weights, slot head, scores; its modes
            # are equal, and the adapters restart as identities
            actor = self.training_actor(state, task, key=jax.random.key(0))
            actor, mode = reset_adapters(actor), 0
        else:
            actor = trained
        if method.caching:
            if method.alignment:
                earlier = min(task, self.policy.num_slots)
                actor = refine_cached_orders(actor, num_slots=earlier)
            actor = cache_wiring(actor, mode=mode, slot=self.policy.slot_of_task(task))
        actor = reset_adapters(restart_scores(actor, mode=mode))
        facts = {
            "mode_rewards": rewards,
            "kept_mode": mode,
            "wiring_moved": self.wiring_moved(state, task, trained, mode),
            "wiring_displacement": self.wiring_displacement(state, task, trained, mode),
            "rolled_back": rolled_back,
            **diagnostics,
        }
        if end.observations is not None:
            facts.update(self.noise_facts(trained, mode, task, end.observations))
        return RewireState(actor=actor, anchor=actor.body), facts

    def policy_for_task(self, state: RewireState, task: int) -> PlainMLP:
        if self.spec.method.caching:
            return state.actor.with_task(self.policy.slot_of_task(task))
        return state.actor.with_mode(0)

    def policy_params(self, state: RewireState, tasks_seen: int) -> int:
        """The stored policy: weights, the anchor copy (from the second task on), the
        K score vectors, the adapters and one cached wiring per slot in use."""
        counts = parameter_counts(state.actor)
        unit = self.unit_params()
        anchor = unit if tasks_seen > 1 else 0
        slots = min(tasks_seen, self.policy.num_slots)
        wirings = slots * counts.wiring_entries if self.spec.method.caching else 0
        return unit + anchor + counts.scores + counts.adapters + wirings
