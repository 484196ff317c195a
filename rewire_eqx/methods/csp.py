"""CSP, continual subspace of policies (Gaya et al. 2023).

The policies are the convex combinations `theta(alpha) = sum_i alpha_i theta_i` of
anchor networks `theta_i` (alpha in the simplex of the anchors kept so far). Task `t`:

1. adds a new anchor, initialised at the mean of the kept anchors (the first task trains
   a single anchor), and trains it alone (older anchors pass through `stop_gradient`);
   every episode draws `alpha ~ Dirichlet(1, ..., 1)` over the enlarged simplex, and the
   critic sees `alpha` (it is appended to the observation by `SubspaceVecEnv`);
2. chooses the task's policy in each subspace: `csp_candidates` Dirichlet draws (and the
   simplex's vertices) are scored by the trained critic, `mean_s min_i Q_i(s, alpha,
   tanh(mu_alpha(s)))` over replay states, and the best point of the old simplex and of
   the enlarged one are evaluated by rollouts;
3. **growth criterion**: keeps the new anchor only if the enlarged subspace's policy beats
   the old one's by more than `csp_threshold x |reward_old|`; otherwise the anchor is
   pruned and the task uses its best point of the old simplex.

A task's policy is its stored `alpha` over frozen anchors, so earlier tasks never change.
Model size: the kept anchors (plus one `alpha` per task).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from rewire_eqx import losses
from rewire_eqx.envs.base import AbstractVecEnv, EnvState, StepResult
from rewire_eqx.methods.base import AbstractMethod, TaskEnd
from rewire_eqx.networks import (
    AbstractPolicyFn,
    AbstractPolicyNet,
    PlainMLP,
    hidden_activation,
)
from rewire_eqx.specs import build

__all__ = ["CSP", "CSPState", "SubspaceMLP", "SubspaceVecEnv", "sample_simplex"]


def sample_simplex(
    key: PRNGKeyArray, active: Float[Array, " anchors"], shape: tuple[int, ...] = ()
) -> Float[Array, "... anchors"]:
    """Dirichlet(1, ..., 1) over the active anchors (zeros elsewhere)."""
    gamma = jax.random.exponential(key, (*shape, active.shape[0])) * active
    return gamma / jnp.sum(gamma, axis=-1, keepdims=True)


class SubspaceMLP(AbstractPolicyNet, AbstractPolicyFn):
    """`PlainMLP` anchors stacked on a leading axis, combined layer by layer:
    `sigma(sum_i alpha_i (W_i h + b_i))` equals the network of weights `theta(alpha)`.

    Its input is the observation followed by `alpha`, unless `use_fixed`, in which case
    `fixed_alpha` is used (a task's stored policy)."""

    anchors: PlainMLP
    trainable: Int[Array, ""]
    fixed_alpha: Float[Array, " anchors"]
    use_fixed: Bool[Array, ""]
    obs_size: int = eqx.field(static=True)

    def __init__(self, anchor: PlainMLP, *, num_anchors: int, obs_size: int):
        self.anchors = jax.tree.map(lambda a: jnp.stack([a] * num_anchors), anchor)
        self.trainable = jnp.zeros((), jnp.int32)
        self.fixed_alpha = jnp.zeros(num_anchors).at[0].set(1.0)
        self.use_fixed = jnp.zeros((), bool)
        self.obs_size = obs_size

    @property
    def num_anchors(self) -> int:
        return self.fixed_alpha.shape[0]

    @property
    def num_modes(self) -> int:
        return 1

    def with_mode(self, mode=0, *, key=None) -> SubspaceMLP:
        return self

    def with_task(self, task) -> SubspaceMLP:
        raise NotImplementedError("a task's CSP policy is `with_alpha(state.alphas[t])`")

    def with_alpha(self, alpha: Float[Array, " anchors"]) -> SubspaceMLP:
        return eqx.tree_at(
            lambda n: (n.fixed_alpha, n.use_fixed),
            self,
            (jnp.asarray(alpha, jnp.float32), jnp.ones((), bool)),
        )

    def anchor(self, index: int) -> PlainMLP:
        return jax.tree.map(lambda a: a[index], self.anchors)

    def __call__(self, x: Float[Array, " in_size"], *, head=0) -> Float[Array, " out"]:
        alpha = jnp.where(self.use_fixed, self.fixed_alpha, x[self.obs_size :])
        h = x[: self.obs_size]
        trainable = jnp.arange(self.num_anchors) == self.trainable
        head_layer = jax.tree.map(lambda a: a[:, head], self.anchors.heads)
        layers = (*self.anchors.hidden, head_layer)
        for i, layer in enumerate(layers):
            mask = trainable[:, None, None]
            weight = jnp.where(mask, layer.weight, jax.lax.stop_gradient(layer.weight))
            bias = jnp.where(mask[:, :, 0], layer.bias, jax.lax.stop_gradient(layer.bias))
            z = alpha @ (jnp.einsum("noi,i->no", weight, h) + bias)
            if i < len(layers) - 1:
                anchors = self.anchors
                z = hidden_activation(anchors.activation, anchors.first_layer_norm, i)(z)
            h = z
        return h


class SubspaceVecEnv(AbstractVecEnv):
    """Environments whose observations end with the policy's subspace coordinates
    `alpha`, drawn from `Dirichlet(1)` over the `active` anchors at every episode start
    and, with `resample_every > 0`, every that many steps within an episode (the
    published code's `repeat_alpha`, 20 or 100). A transition's `next_obs` carries the
    `alpha` that acted."""

    env: AbstractVecEnv
    active: Float[Array, " anchors"]
    resample_every: int = eqx.field(static=True, default=0)

    @property
    def num_envs(self) -> int:
        return self.env.num_envs

    @property
    def episode_length(self) -> int:
        return self.env.episode_length

    @property
    def obs_size(self) -> int:
        return self.env.obs_size + self.active.shape[0]

    @property
    def action_size(self) -> int:
        return self.env.action_size

    def _state(self, inner: EnvState, alpha, key) -> EnvState:
        return EnvState(
            inner=(inner, alpha),
            start=None,
            start_obs=jnp.concatenate([inner.start_obs, alpha], axis=1),
            obs=jnp.concatenate([inner.obs, alpha], axis=1),
            steps=inner.steps,
            returns=inner.returns,
            key=key,
        )

    def reset(self, key) -> EnvState:
        env_key, alpha_key, key = jax.random.split(key, 3)
        alpha = sample_simplex(alpha_key, self.active, (self.num_envs,))
        return self._state(self.env.reset(env_key), alpha, key)

    def host_snapshot(self) -> bytes | None:
        return self.env.host_snapshot()

    def resync(self, state: EnvState, host: bytes | None = None) -> EnvState:
        inner, alpha = state.inner
        return self._state(self.env.resync(inner, host), alpha, state.key)

    @property
    def vmappable(self) -> bool:
        return self.env.vmappable

    def step(self, state: EnvState, actions) -> tuple[EnvState, StepResult]:
        inner, alpha = state.inner
        inner, result = self.env.step(inner, actions)
        key, alpha_key = jax.random.split(state.key)
        fresh = sample_simplex(alpha_key, self.active, (self.num_envs,))
        redraw = result.done
        if self.resample_every > 0:
            redraw = redraw | (inner.steps % self.resample_every == 0)
        new_alpha = jnp.where(redraw[:, None], fresh, alpha)
        result = eqx.tree_at(
            lambda r: r.next_obs, result, jnp.concatenate([result.next_obs, alpha], axis=1)
        )
        return self._state(inner, new_alpha, key), result


class CSPState(eqx.Module):
    actor: SubspaceMLP
    kept: Int[Array, ""]  # anchors kept so far
    alphas: Float[Array, "tasks anchors"]  # each task's point of the subspace


class CSP(AbstractMethod):
    def init(self, *, key) -> CSPState:
        policy = self.policy
        anchor = build(policy, key=key)
        assert isinstance(anchor, PlainMLP)
        actor = SubspaceMLP(anchor, num_anchors=policy.num_tasks, obs_size=policy.in_size)
        return CSPState(
            actor=actor,
            kept=jnp.zeros((), jnp.int32),
            alphas=jnp.zeros((policy.num_tasks, policy.num_tasks)),
        )

    def _active(self, count: int) -> Float[Array, " anchors"]:
        return (jnp.arange(self.policy.num_tasks) < count).astype(jnp.float32)

    @property
    def carries_critic(self) -> bool:
        """CSP trains a new critic for every task (its critic sees the subspace
        coordinates of a simplex that grows)."""
        return False

    def wrap_env(self, env, state) -> SubspaceVecEnv:
        # the anchors kept so far and the one being trained
        return SubspaceVecEnv(
            env=env,
            active=self._active(int(state.kept) + 1),
            resample_every=self.spec.method.csp_resample_every,
        )

    def training_actor(self, state, task, *, key) -> SubspaceMLP:
        new = int(state.kept)
        anchors = state.actor.anchors
        if new > 0:  # the new anchor starts at the mean of the kept ones
            anchors = jax.tree.map(
                lambda a: a.at[new].set(jnp.mean(a[:new], axis=0)), anchors
            )
        if 0 < task < self.policy.num_heads:
            source, target = (
                self.policy.head_of_task(task - 1),
                self.policy.head_of_task(task),
            )
            heads = jax.tree.map(lambda a: a.at[:, target].set(a[:, source]), anchors.heads)
            anchors = eqx.tree_at(lambda b: b.heads, anchors, heads)
        actor = eqx.tree_at(
            lambda n: (n.anchors, n.trainable, n.use_fixed),
            state.actor,
            (anchors, jnp.asarray(new, jnp.int32), jnp.zeros((), bool)),
        )
        return actor

    def subspace_values(
        self, actor: SubspaceMLP, critic, observations, alphas, head
    ) -> Float[Array, " candidates"]:
        """Critic estimate of each candidate `alpha`: mean over the replay states of the
        smaller twin Q of the candidate's deterministic action."""
        obs = observations[:, : actor.obs_size]

        def value(alpha):
            x = jnp.concatenate(
                [obs, jnp.broadcast_to(alpha, (obs.shape[0], alpha.shape[0]))], 1
            )
            policy = actor.with_alpha(alpha)
            mean, _ = losses.gaussian_head(jax.vmap(lambda o: policy(o, head=head))(x))
            return jnp.mean(jnp.min(losses.twin_q(critic, x, jnp.tanh(mean)), axis=0))

        return jax.lax.map(value, alphas)

    def _best(self, actor, critic, observations, count, head, key):
        active = self._active(count)
        draws = sample_simplex(key, active, (self.spec.method.csp_candidates,))
        vertices = jnp.eye(self.policy.num_tasks)[:count]
        candidates = jnp.concatenate([vertices, draws])
        values = self.subspace_values(actor, critic, observations, candidates, head)
        return candidates[int(jnp.argmax(values))]

    def end_task(self, state, trained, task, end: TaskEnd):
        new = int(state.kept)
        if new == 0:
            alpha = jnp.zeros(self.policy.num_tasks).at[0].set(1.0)
            alphas = state.alphas.at[task].set(alpha)
            facts = {"anchors": 1, "grew": True}
            return CSPState(
                actor=trained, kept=jnp.asarray(1, jnp.int32), alphas=alphas
            ), facts
        if end.critic is None or end.observations is None:
            raise ValueError("CSP needs the task's critic and replay observations")
        head = self.policy.head_of_task(task)
        old_key, new_key = jax.random.split(jax.random.fold_in(jax.random.key(task), 7))
        old_alpha = self._best(trained, end.critic, end.observations, new, head, old_key)
        new_alpha = self._best(
            trained, end.critic, end.observations, new + 1, head, new_key
        )
        reward_old = end.evaluate(trained.with_alpha(old_alpha))
        reward_new = end.evaluate(trained.with_alpha(new_alpha))
        # a best point on the old face does not use the new anchor: nothing to grow
        uses_new = float(new_alpha[new]) > 0
        grew = uses_new and self.grows(reward_old, reward_new)
        better_old_point = not uses_new and reward_new > reward_old
        alpha = new_alpha if grew or better_old_point else old_alpha
        kept = new + 1 if grew else new
        facts = {
            "anchors": kept,
            "grew": grew,
            "reward_old_subspace": reward_old,
            "reward_new_subspace": reward_new,
            "alpha": np.asarray(alpha).tolist(),
        }
        state = CSPState(
            actor=trained,
            kept=jnp.asarray(kept, jnp.int32),
            alphas=state.alphas.at[task].set(alpha),
        )
        return state, facts

    def grows(self, reward_old: float, reward_new: float) -> bool:
        """The growth criterion: the new anchor must beat the old subspace by more than
        `csp_threshold` of its reward's magnitude."""
        return reward_new > reward_old + self.spec.method.csp_threshold * abs(reward_old)

    def policy_for_task(self, state, task) -> SubspaceMLP:
        return state.actor.with_alpha(state.alphas[task])

    def policy_params(self, state, tasks_seen) -> int:
        kept = int(state.kept)
        return kept * self.unit_params() + tasks_seen * kept
