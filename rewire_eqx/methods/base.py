"""The interface every continual-learning method implements, and shared helpers."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from rewire_eqx.envs.base import AbstractVecEnv
from rewire_eqx.losses import AbstractRegulariser
from rewire_eqx.networks import (
    AbstractPolicyFn,
    AbstractPolicyNet,
    PlainMLP,
    RewiredMLP,
    parameter_counts,
)
from rewire_eqx.specs import PolicySpec, RunSpec

__all__ = ["AbstractMethod", "Evaluate", "TaskEnd", "body_of", "copy_head", "with_body"]

Evaluate = Callable[[AbstractPolicyFn], float]
"""Mean return of a (wired) policy on the task being trained, with its head."""


@dataclasses.dataclass(frozen=True)
class TaskEnd:
    """What the runner hands a method at the end of a task."""

    evaluate: Evaluate
    """Rollout evaluation on the task just trained."""
    reward_before: float | None = None
    """The pre-task policy's reward on the task (None for the first task)."""
    observations: Float[Array, "batch obs"] | None = None
    """States sampled from the task's replay buffer (EWC's Fisher, CSP's scoring)."""
    critic: PlainMLP | None = None
    """The task's trained twin critics (CSP's choice of a policy in its subspace)."""


def body_of(actor: AbstractPolicyNet) -> PlainMLP:
    return actor.body if isinstance(actor, RewiredMLP) else actor


def with_body(actor: AbstractPolicyNet, body: PlainMLP) -> AbstractPolicyNet:
    if isinstance(actor, RewiredMLP):
        return eqx.tree_at(lambda a: a.body, actor, body)
    return body


def copy_head(actor: AbstractPolicyNet, *, source: int, target: int) -> AbstractPolicyNet:
    """A new task's head starts as a copy of the previous task's head."""
    body = body_of(actor)
    heads = jax.tree.map(lambda a: a.at[target].set(a[source]), body.heads)
    return with_body(actor, eqx.tree_at(lambda b: b.heads, body, heads))


class AbstractMethod(abc.ABC):
    """A continual-learning method on top of the shared SAC learner and runner.

    Its state is one Equinox module of fixed structure (so that it checkpoints with
    `eqx.tree_serialise_leaves` and deserialises into `init`'s output).
    """

    def __init__(self, spec: RunSpec, policy: PolicySpec):
        self.spec = spec
        self.policy = policy

    @property
    def carries_critic(self) -> bool:
        """Whether the critics continue from task to task (with a fresh optimiser), as
        the published code does for every method but CSP; `SACSpec.carry_critic`
        switches it off for all."""
        return self.spec.sac.carry_critic

    def continue_actor(self, actor: AbstractPolicyNet, task: int) -> AbstractPolicyNet:
        """The actor carried into `task`: a new task's head starts as a copy of the
        previous task's head (heads reused modulo the cycle are kept as they are)."""
        if 0 < task < self.policy.num_heads:
            source = self.policy.head_of_task(task - 1)
            return copy_head(actor, source=source, target=self.policy.head_of_task(task))
        return actor

    @abc.abstractmethod
    def init(self, *, key: PRNGKeyArray) -> eqx.Module:
        """The method's state before the first task."""

    @abc.abstractmethod
    def training_actor(self, state, task: int, *, key: PRNGKeyArray) -> AbstractPolicyNet:
        """The actor SAC trains on `task` (its head for the task already in place)."""

    def regulariser(self, state, task: int) -> AbstractRegulariser:
        """The extra actor-loss term while training `task`."""
        from rewire_eqx.losses import NoRegulariser

        return NoRegulariser()

    def wrap_env(self, env: AbstractVecEnv, state) -> AbstractVecEnv:
        """The environments as this method's policies see them (CSP appends the
        subspace coordinates to the observation); unchanged by default."""
        return env

    def mid_task_share(self, task: int) -> float:
        """Share of `task`'s training chunks that run after `mid_task` (0: no call)."""
        return 0.0

    def mid_task(self, actor: AbstractPolicyNet, task: int) -> AbstractPolicyNet:
        """Called once during `task` when `mid_task_share` > 0, or after its interaction
        when `offline_updates` > 0 (PackNet prunes here and retrains what is left)."""
        return actor

    def offline_updates(self, task: int) -> int:
        """Gradient updates from the replay buffer after `task`'s interaction budget,
        following a `mid_task` call (0: none)."""
        return 0

    @abc.abstractmethod
    def end_task(
        self, state, trained: AbstractPolicyNet, task: int, end: TaskEnd
    ) -> tuple[eqx.Module, dict]:
        """Consolidate after training `task`; returns the new state and a dict of
        task-end facts for the record (kept mode, roll-back, ...)."""

    @abc.abstractmethod
    def policy_for_task(self, state, task: int) -> AbstractPolicyFn:
        """The deterministic-evaluation network for a seen task (call with its head)."""

    @abc.abstractmethod
    def policy_params(self, state, tasks_seen: int) -> int:
        """Policy parameters held after `tasks_seen` tasks (task heads excluded)."""

    def unit_params(self) -> int:
        """Parameters of one plain policy with one head (the model-size unit)."""
        probe = PlainMLP(
            self.policy.in_size,
            self.policy.network.hidden_sizes,
            self.policy.out_size,
            num_heads=1,
            key=jax.random.key(0),
        )
        return parameter_counts(probe).weights
