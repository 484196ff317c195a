"""Loss functions: SAC's (critic, actor, temperature), the distillation between modes
(Eq. 6) and the regularisers a method adds to the actor loss (Eq. 7, Eq. 11).

Targets are wrapped in `jax.lax.stop_gradient` explicitly.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from rewire_eqx.networks import (
    AbstractPolicyNet,
    PlainMLP,
    RewiredMLP,
    alignment_loss,
    l2_loss,
)

__all__ = [
    "AbstractRegulariser",
    "AlignmentRegulariser",
    "L2Regulariser",
    "NoRegulariser",
    "alpha_loss",
    "distillation_loss",
    "gaussian_head",
    "sample_tanh_gaussian",
    "td_target",
    "twin_q",
    "weighted_term",
]

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


# ------------------------------------------------------------------ the policy


def gaussian_head(
    out: Float[Array, "*batch two_act"],
) -> tuple[Float[Array, "*batch act"], Float[Array, "*batch act"]]:
    """Split a head's output into the mean and the log-std clipped to [-20, 2]."""
    mean, log_std = jnp.split(out, 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def sample_tanh_gaussian(
    mean: Float[Array, "*batch act"],
    log_std: Float[Array, "*batch act"],
    *,
    key: PRNGKeyArray,
) -> tuple[Float[Array, "*batch act"], Float[Array, "*batch"]]:
    """Reparameterised sample `a = tanh(mean + std * eps)` and its log-density.

    `log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2)`, with the correction
    written stably as `2 (log 2 - u - softplus(-2 u))`.
    """
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    gaussian = (
        -0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi)
    )
    correction = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return jnp.tanh(u), jnp.sum(gaussian - correction, axis=-1)


# ---------------------------------------------------------------------- SAC


def twin_q(
    critic: PlainMLP, obs: Float[Array, "batch obs"], action: Float[Array, "batch act"]
) -> Float[Array, "2 batch"]:
    """Both critics of a stacked twin (arrays with a leading axis of 2) on a batch."""
    inputs = jnp.concatenate([obs, action], axis=-1)

    def one(net):
        return jax.vmap(lambda x: net(x)[0])(inputs)

    return eqx.filter_vmap(one)(critic)


def td_target(
    reward: Float[Array, " batch"],
    terminated: Float[Array, " batch"],
    next_q: Float[Array, "2 batch"],
    next_log_prob: Float[Array, " batch"],
    *,
    temperature: Float[Array, ""],
    discount: float,
    reward_scale: float,
) -> Float[Array, " batch"]:
    """Soft TD target `r s + gamma (1 - term) (min_i Q'_i(s', a') - alpha log pi(a'|s'))`.

    Truncated episodes keep `terminated = 0` and bootstrap.
    """
    soft_value = jnp.min(next_q, axis=0) - temperature * next_log_prob
    target = reward_scale * reward + discount * (1.0 - terminated) * soft_value
    return jax.lax.stop_gradient(target)


def alpha_loss(
    log_alpha: Float[Array, ""], log_prob: Float[Array, " batch"], target_entropy: float
) -> Scalar:
    """Temperature loss `-alpha * E[log pi + target_entropy]`, `alpha = exp(log alpha)`,
    differentiated with respect to `log alpha` (the published code's and brax's form)."""
    return -jnp.exp(log_alpha) * jnp.mean(jax.lax.stop_gradient(log_prob) + target_entropy)


def distillation_loss(
    mean: Float[Array, "batch act"],
    log_std: Float[Array, "batch act"],
    other_mean: Float[Array, "batch act"],
    other_log_std: Float[Array, "batch act"],
) -> Scalar:
    """Distillation between modes, Eq. 6, in the published stable form.

    Instead of `KL(pi_k' || pi_k)`, the squared difference of the Gaussian parameters
    `||mu_k - mu_k'||^2 + ||log sigma_k - log sigma_k'||^2`, summed over action
    dimensions and averaged over the batch (the learner multiplies it by alpha x the
    published batch's 512 states, which the published code sums over). No gradient
    flows through mode k'; its mean is clipped to [-20, 20] (its log-std is clipped by
    `gaussian_head`).
    """
    other_mean = jax.lax.stop_gradient(jnp.clip(other_mean, -20.0, 20.0))
    other_log_std = jax.lax.stop_gradient(other_log_std)
    per_sample = jnp.sum((mean - other_mean) ** 2 + (log_std - other_log_std) ** 2, axis=-1)
    return jnp.mean(per_sample)


# -------------------------------------------------------------- regularisers


def weighted_term(coef: Float[Array, ""], term: Callable[[], Scalar]) -> Scalar:
    """`coef * term()`, with `term` not evaluated where `coef` is 0 (a first task).

    Value and gradients are those of `coef * term()` whenever `term()` is finite; a
    `jax.lax.cond` keeps one compiled program for every task and skips the term's
    forward and backward passes on a first task (under `vmap` with a batched `coef`
    both branches run, as before).
    """
    return jax.lax.cond(coef != 0, lambda: coef * term(), lambda: jnp.zeros((), coef.dtype))


class AbstractRegulariser(eqx.Module):
    """An extra actor-loss term supplied by a continual-learning method.

    Its arrays (anchors, Fisher information, ...) are ordinary inputs of the learner's
    jitted step, so changing their values between tasks does not recompile.
    """

    @abc.abstractmethod
    def __call__(self, actor: AbstractPolicyNet) -> Scalar: ...


class NoRegulariser(AbstractRegulariser):
    """No extra term (the first task, FT-1, SAC-N)."""

    def __call__(self, actor: AbstractPolicyNet) -> Scalar:
        return jnp.zeros(())


class L2Regulariser(AbstractRegulariser):
    """`coef * sum_l ||W_l - W_l^{t-1}||^2`, Eq. 7. The coefficient is an array, so a
    first task (coefficient 0) and later tasks share one compiled program."""

    anchor: PlainMLP
    coef: Float[Array, ""]

    def __init__(self, anchor: PlainMLP, coef):
        self.anchor = anchor
        self.coef = jnp.asarray(coef, jnp.float32)

    def __call__(self, actor: AbstractPolicyNet) -> Scalar:
        body = actor.body if isinstance(actor, RewiredMLP) else actor
        return weighted_term(self.coef, lambda: l2_loss(body, self.anchor))


class AlignmentRegulariser(AbstractRegulariser):
    """`beta * L_SP`, Eq. 11: weights and alignment adapters pulled toward the anchor.
    `beta` is an array (0 on the first task, without recompiling)."""

    anchor: PlainMLP
    beta: Float[Array, ""]

    def __init__(self, anchor: PlainMLP, beta):
        self.anchor = anchor
        self.beta = jnp.asarray(beta, jnp.float32)

    def __call__(self, actor: AbstractPolicyNet) -> Scalar:
        if not isinstance(actor, RewiredMLP):
            raise TypeError("AlignmentRegulariser needs a RewiredMLP actor")
        return weighted_term(self.beta, lambda: alignment_loss(actor, self.anchor))
