"""EWC (Kirkpatrick et al. 2017) with the diagonal Fisher of the Gaussian policy in
closed form.

For a policy `a = tanh(u)`, `u ~ N(mu(s), sigma(s)^2)`, the Fisher information of the
squashed and of the Gaussian distribution coincide (tanh is a bijection), and for a
Gaussian it is `1/sigma^2` for the mean and `2` for the log-std. The diagonal Fisher of
parameter `theta_i` is therefore
`E_s[sum_a (d mu_a / d theta_i)^2 / sigma_a^2 + 2 (d log sigma_a / d theta_i)^2]`,
computed on observations from the task's replay buffer and clipped from below. Fishers
add up over tasks; the penalty is `coef * sum_i F_i (theta_i - theta*_i)^2` on the hidden
layers (task heads are frozen per task instead), with `theta*` the weights after the
previous task.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Scalar

from rewire_eqx.losses import AbstractRegulariser, gaussian_head, weighted_term
from rewire_eqx.methods.base import AbstractMethod, TaskEnd
from rewire_eqx.networks import AbstractPolicyNet, PlainMLP
from rewire_eqx.specs import build

__all__ = ["EWC", "EWCRegulariser", "EWCState", "diagonal_fisher"]


def _hidden_params(body: PlainMLP):
    layers = list(body.hidden) + ([body.head(0)] if body.num_heads == 1 else [])
    return [(layer.weight, layer.bias) for layer in layers]


def diagonal_fisher(
    policy: PlainMLP, obs: Float[Array, "batch obs"], head, *, minimum: float
) -> list[tuple[Array, Array]]:
    """Diagonal Fisher of the hidden layers' (and a shared head's) weights and biases,
    averaged over `obs`, clipped from below at `minimum`."""

    def outputs(params, x):
        body = _with_hidden_params(policy, params)
        return body(x, head=head)

    params = _hidden_params(policy)

    def per_sample(x):
        mean, log_std = gaussian_head(outputs(params, x))
        jac = jax.jacrev(lambda p: jnp.concatenate(gaussian_head(outputs(p, x))))(params)
        act = mean.shape[0]
        weights = jnp.concatenate([jnp.exp(-2.0 * log_std), 2.0 * jnp.ones(act)])
        return jax.tree.map(lambda j: jnp.tensordot(weights, j**2, axes=(0, 0)), jac)

    fisher = jax.tree.map(lambda f: jnp.mean(f, axis=0), jax.vmap(per_sample)(obs))
    return jax.tree.map(lambda f: jnp.maximum(f, minimum), fisher)


def _with_hidden_params(body: PlainMLP, params) -> PlainMLP:
    hidden = tuple(
        eqx.tree_at(lambda lin: (lin.weight, lin.bias), layer, p)
        for layer, p in zip(body.hidden, params)
    )
    body = eqx.tree_at(lambda b: b.hidden, body, hidden)
    if body.num_heads == 1 and len(params) > len(hidden):
        weight, bias = params[-1]
        body = eqx.tree_at(
            lambda b: (b.heads.weight, b.heads.bias), body, (weight[None], bias[None])
        )
    return body


class EWCRegulariser(AbstractRegulariser):
    """`coef * sum_i F_i (theta_i - theta*_i)^2` over the hidden layers."""

    anchor: PlainMLP
    fisher: list
    coef: Float[Array, ""]

    def __init__(self, anchor: PlainMLP, fisher, coef):
        self.anchor = anchor
        self.fisher = fisher
        self.coef = jnp.asarray(coef, jnp.float32)

    def __call__(self, actor: AbstractPolicyNet) -> Scalar:
        assert isinstance(actor, PlainMLP)
        current, anchor = _hidden_params(actor), _hidden_params(self.anchor)

        def penalty() -> Scalar:
            total = jnp.zeros(())
            for (w, b), (w0, b0), (fw, fb) in zip(current, anchor, self.fisher):
                total = total + jnp.sum(fw * (w - w0) ** 2) + jnp.sum(fb * (b - b0) ** 2)
            return total

        return weighted_term(self.coef, penalty)


class EWCState(eqx.Module):
    actor: PlainMLP
    anchor: PlainMLP
    fisher: list  # (weight, bias) Fisher per regularised layer, summed over tasks


class EWC(AbstractMethod):
    def init(self, *, key) -> EWCState:
        actor = build(self.policy, key=key)
        fisher = jax.tree.map(jnp.zeros_like, _hidden_params(actor))
        return EWCState(actor=actor, anchor=actor, fisher=fisher)

    def training_actor(self, state, task, *, key) -> PlainMLP:
        return self.continue_actor(state.actor, task)

    def regulariser(self, state, task) -> AbstractRegulariser:
        coef = self.spec.losses.ewc_coef if task else 0.0
        return EWCRegulariser(state.anchor, state.fisher, coef)

    def end_task(self, state, trained, task, end: TaskEnd):
        if end.observations is None:
            raise ValueError("EWC needs observations of the task to estimate its Fisher")
        fisher = eqx.filter_jit(diagonal_fisher)(
            trained,
            end.observations,
            self.policy.head_of_task(task),
            minimum=self.spec.losses.fisher_min,
        )
        total = jax.tree.map(jnp.add, state.fisher, fisher)
        return EWCState(actor=trained, anchor=trained, fisher=total), {}

    def policy_for_task(self, state, task) -> PlainMLP:
        return state.actor

    def policy_params(self, state, tasks_seen) -> int:
        return self.unit_params() * (3 if tasks_seen > 1 else 1)
