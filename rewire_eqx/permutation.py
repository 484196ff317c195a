"""The permutation math of the paper (Section 3.2, Eq. 3-4), and nothing else.

Conventions used throughout the package:

* An **order** `z` is an integer vector holding a permutation of `0..n-1`. Its
  permutation matrix is `P = I[z, :]` (Eq. 3), so that `P @ x == x[z]`.
* A **score vector** `v` parameterises an order through `z = argsort(v)` (ascending,
  stable). Training uses a straight-through estimator: the forward pass is the exact hard
  permutation, computed as a gather, and the backward pass differentiates the SoftSort
  relaxation of Eq. 4, `softmax(-|sort(v) 1^T - 1 v^T| / tau)` (row-wise).
* `compose(a, b)` is the order of the matrix product `P_a @ P_b`; `invert(a)` the order
  of `P_a^T`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

__all__ = [
    "apply_to_columns",
    "apply_to_rows",
    "apply_to_vector",
    "compose",
    "identity_order",
    "identity_scores",
    "invert",
    "order_from_scores",
    "order_to_matrix",
    "perturb_scores",
    "scale_gradient",
    "scores_from_order",
    "soft_permutation",
    "straight_through_permute",
    "straight_through_permute_transposed",
]


# --------------------------------------------------------------------------- scores


def identity_scores(n: int) -> Float[Array, " n"]:
    """Scores whose order is the identity: an arithmetic sequence rescaled to [0, 1].

    **Arguments:**

    - `n`: number of neurons.

    **Returns:** `linspace(0, 1, n)` (a single `0.` when `n == 1`).
    """
    if n < 1:
        raise ValueError(f"identity_scores: n must be >= 1, got {n}")
    return jnp.linspace(0.0, 1.0, n) if n > 1 else jnp.zeros((1,))


def order_from_scores(scores: Float[Array, " n"]) -> Int[Array, " n"]:
    """The hard order `z = argsort(v)` of Eq. 3 (ascending, stable)."""
    return jnp.argsort(scores).astype(jnp.int32)


def scores_from_order(order: Int[Array, " n"]) -> Float[Array, " n"]:
    """Evenly spaced scores in [0, 1] whose `argsort` is `order`.

    Used to restart score vectors (and adapters) from a kept wiring.
    """
    return identity_scores(order.shape[0])[invert(order)]


def perturb_scores(
    scores: Float[Array, " n"], *, scale: float, key: PRNGKeyArray
) -> Float[Array, " n"]:
    """Add Gumbel noise of the given scale to scores (training-time exploration)."""
    return scores + scale * jax.random.gumbel(key, scores.shape, scores.dtype)


# ------------------------------------------------------------------------- SoftSort


def soft_permutation(scores: Float[Array, " n"], tau: float) -> Float[Array, "n n"]:
    """SoftSort relaxation of `I[argsort(v), :]`, Eq. 4.

    `P_hat[i, j] = softmax_j(-|sort(v)_i - v_j| / tau)`: row-stochastic, and equal to the
    hard permutation matrix in the limit `tau -> 0` when scores are distinct.

    **Arguments:**

    - `scores`: the score vector `v`.
    - `tau`: temperature (> 0).

    **Returns:** an `(n, n)` row-stochastic matrix.
    """
    return _softsort(jnp.sort(scores), scores, tau)


def _softsort(sorted_scores: Array, scores: Array, tau: float) -> Array:
    """Eq. 4 given `sort(scores)` (the backward pass has it as `scores[order]`)."""
    distance = jnp.abs(sorted_scores[:, None] - scores[None, :])
    return jax.nn.softmax(-distance / tau, axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _straight_through(scores: Array, x: Array, tau: float, transpose: bool) -> Array:
    return _straight_through_fwd(scores, x, tau, transpose)[0]


def _straight_through_fwd(scores, x, tau, transpose):
    order = order_from_scores(scores)
    out = x[invert(order)] if transpose else x[order]
    return out, (scores, x, order)


def _straight_through_bwd(tau, transpose, residuals, cotangent):
    scores, x, order = residuals
    # Gradient for x: the transpose of the hard matrix applied, as a gather (no matmul,
    # no scatter): P^T g for P x, and P g for P^T x.
    grad_x = cotangent[order] if transpose else cotangent[invert(order)]

    # Gradient for the scores: through SoftSort, as if the forward had used P_hat
    # (`sort(s)` is `s[order]`: the forward's order, not a second sort).
    def relaxed(s):
        soft = _softsort(s[order], s, tau)
        return jnp.tensordot(soft.T if transpose else soft, x, axes=(1, 0))

    _, soft_vjp = jax.vjp(relaxed, scores)
    (grad_scores,) = soft_vjp(cotangent)
    return grad_scores, grad_x


_straight_through.defvjp(_straight_through_fwd, _straight_through_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _straight_through_clean(scores: Array, noise: Array, x: Array, tau: float) -> Array:
    return _straight_through_clean_fwd(scores, noise, x, tau)[0]


def _straight_through_clean_fwd(scores, noise, x, tau):
    order = order_from_scores(scores)
    return x[order], (scores, noise, x, order)


def _straight_through_clean_bwd(tau, residuals, cotangent):
    scores, noise, x, order = residuals
    grad_x = cotangent[invert(order)]
    noisy_order = order_from_scores(scores + noise)

    def relaxed(s):
        noisy = s + noise
        return jnp.tensordot(_softsort(noisy[noisy_order], noisy, tau), x, axes=(1, 0))

    _, soft_vjp = jax.vjp(relaxed, scores)
    (grad_scores,) = soft_vjp(cotangent)
    return grad_scores, jnp.zeros_like(noise), grad_x


_straight_through_clean.defvjp(_straight_through_clean_fwd, _straight_through_clean_bwd)


def _check_lengths(name: str, scores: Array, x: Array) -> None:
    if scores.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name}: scores has length {scores.shape[0]} but x has leading axis "
            f"{x.shape[0]}"
        )


def straight_through_permute(
    scores: Float[Array, " n"],
    x: Float[Array, "n ..."],
    tau: float,
    *,
    backward_noise: Float[Array, " n"] | None = None,
) -> Float[Array, "n ..."]:
    """Permute the leading axis of `x` by `argsort(scores)`, with the SoftSort gradient.

    Forward: exactly `x[argsort(scores)] == I[z, :] @ x`, computed as a gather.
    Backward: `x` receives `P^T g` (the hard permutation's transpose) and the scores
    receive the gradient of `softsort(scores, tau) @ x`, i.e. the straight-through
    estimator `P = P_hard + P_hat - stop_gradient(P_hat)` of Eq. 3-4.

    **Arguments:**

    - `scores`: score vector `v` of length `n`.
    - `x`: array whose leading axis has length `n` (a vector, or a weight matrix whose
      rows are neurons).
    - `tau`: SoftSort temperature (> 0), used by the backward pass only.
    - `backward_noise`: optional noise `g` that enters the backward pass only (our
      extension, not the published estimator): the forward stays `x[argsort(v)]`, and
      the scores receive the gradient of `softsort(v + g, tau) @ x`. The published way
      to add noise is to pass `v + g` as `scores` (noisy forward and backward).

    **Returns:** `x` with its leading axis permuted.
    """
    _check_lengths("straight_through_permute", scores, x)
    if backward_noise is not None:
        _check_lengths("straight_through_permute", backward_noise, x)
        return _straight_through_clean(scores, backward_noise, x, float(tau))
    return _straight_through(scores, x, float(tau), False)


def straight_through_permute_transposed(
    scores: Float[Array, " n"], x: Float[Array, "n ..."], tau: float
) -> Float[Array, "n ..."]:
    """`P^T x` for the straight-through `P` of `scores`: the leading axis of `x`
    permuted by the inverse of `argsort(scores)`.

    This is the form the published alignment regulariser uses (`zp.T @ W_anchor`, and
    `W_anchor @ ap == (ap.T @ W_anchor.T).T`). Forward: exactly `x[invert(argsort(v))]`.
    Backward: `x` receives `P g`, and the scores the gradient of
    `softsort(scores, tau)^T @ x` (Eq. 4).

    **Arguments:** as `straight_through_permute`.

    **Returns:** `x` with its leading axis permuted by `P^T`.
    """
    _check_lengths("straight_through_permute_transposed", scores, x)
    return _straight_through(scores, x, float(tau), True)


# ---------------------------------------------------------------- gradient scaling


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def scale_gradient(x: Array, factor: float) -> Array:
    """Identity in the forward pass; multiplies the gradient by `factor` (Section 3.3).

    Multi-mode rewiring samples each of the K modes 1/K of the time, so each mode's
    score gradient is multiplied by K to keep an equivalent learning rate.
    """
    return x


def _scale_gradient_fwd(x, factor):
    return x, None


def _scale_gradient_bwd(factor, _, cotangent):
    return (cotangent * factor,)


scale_gradient.defvjp(_scale_gradient_fwd, _scale_gradient_bwd)


# --------------------------------------------------------------------------- orders


def identity_order(n: int) -> Int[Array, " n"]:
    """The identity order `0..n-1`."""
    return jnp.arange(n, dtype=jnp.int32)


def compose(first: Int[Array, " n"], second: Int[Array, " n"]) -> Int[Array, " n"]:
    """Order of the product `P_first @ P_second` (apply `second`, then `first`).

    `P_a P_b x = (x[b])[a] = x[b[a]]`, hence `compose(a, b) = b[a]`.
    """
    return second[first]


def invert(order: Int[Array, " n"]) -> Int[Array, " n"]:
    """Order of `P^T = P^{-1}`: the inverse permutation."""
    n = order.shape[0]
    return jnp.zeros(n, dtype=order.dtype).at[order].set(jnp.arange(n, dtype=order.dtype))


def apply_to_vector(order: Int[Array, " n"], x: Float[Array, " n"]) -> Float[Array, " n"]:
    """`P @ x`, i.e. `x[order]`."""
    return x[order]


def apply_to_rows(
    order: Int[Array, " n"], matrix: Float[Array, "n m"]
) -> Float[Array, "n m"]:
    """`P @ M`: permute the rows of `M` (the output neurons of a weight matrix)."""
    return matrix[order]


def apply_to_columns(
    order: Int[Array, " n"], matrix: Float[Array, "m n"]
) -> Float[Array, "m n"]:
    """`M @ P^T`: permute the columns of `M` (the input neurons of a weight matrix).

    `(M P^T)[i, j] = M[i, order[j]]`.
    """
    return matrix[:, order]


def order_to_matrix(order: Int[Array, " n"]) -> Float[Array, "n n"]:
    """The one-hot matrix `I[order, :]` of Eq. 3 (for tests and inspection only)."""
    return jnp.eye(order.shape[0])[order]
