"""Oracles for the permutation math of Eq. 3-4 (brute force, autodiff, NumPy)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewire_eqx import permutation as perm
from rewire_eqx.networks import ACTIVATIONS

pytestmark = pytest.mark.usefixtures("strict_promotion")

# A few sizes (1, primes, powers of two) keep JAX's compilation cache warm across examples.
SIZES = st.sampled_from([1, 2, 5, 13, 32])
COLS = st.sampled_from([1, 3])


def _random(seed, shape):
    return jax.random.normal(jax.random.key(seed), shape)


def _all_orders(n):
    return [jnp.array(p, dtype=jnp.int32) for p in itertools.permutations(range(n))]


# ------------------------------------------------------------------ hard forward


@given(n=SIZES, m=COLS, seed=st.integers(0, 2**16))
def test_hard_forward_equals_gather_equals_one_hot_matmul(n, m, seed):
    scores = _random(seed, (n,))
    x = _random(seed + 1, (n, m))
    order = jnp.argsort(scores)
    out = perm.straight_through_permute(scores, x, 1.0)
    np.testing.assert_array_equal(out, x[order])
    np.testing.assert_allclose(out, perm.order_to_matrix(order) @ x, rtol=0, atol=0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_hard_forward_brute_force_every_order(n):
    x = np.asarray(_random(n, (n,)))
    for order in _all_orders(n):
        scores = perm.scores_from_order(order)
        assert np.array_equal(np.asarray(perm.order_from_scores(scores)), np.asarray(order))
        matrix = np.zeros((n, n))
        for i, j in enumerate(np.asarray(order)):
            matrix[i, j] = 1.0  # P = I[z, :]
        out = perm.straight_through_permute(scores, jnp.asarray(x), 1.0)
        np.testing.assert_allclose(out, matrix @ x, rtol=0, atol=0)


def test_hard_forward_is_a_gather_not_a_matmul():
    scores, x = _random(0, (64,)), _random(1, (64, 3))
    text = str(
        jax.make_jaxpr(lambda s, x: perm.straight_through_permute(s, x, 1.0))(scores, x)
    )
    assert "gather" in text and "dot_general" not in text


# ------------------------------------------------------------------- SoftSort


def _softsort_numpy(scores, tau):
    scores = np.asarray(scores, dtype=np.float64)
    ordered = np.sort(scores)
    out = np.empty((len(scores), len(scores)))
    for i in range(len(scores)):
        logits = -np.abs(ordered[i] - scores) / tau
        logits -= logits.max()
        out[i] = np.exp(logits) / np.exp(logits).sum()
    return out


@given(n=SIZES, tau=st.sampled_from([0.05, 0.3, 1.0, 5.0]), seed=st.integers(0, 2**16))
def test_softsort_matches_numpy_restatement_and_is_row_stochastic(n, tau, seed):
    scores = _random(seed, (n,))
    soft = perm.soft_permutation(scores, tau)
    np.testing.assert_allclose(soft, _softsort_numpy(scores, tau), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(soft.sum(axis=1), np.ones(n), rtol=1e-5)


def test_softsort_tends_to_the_hard_permutation_as_tau_vanishes():
    scores = _random(3, (10,))
    hard = perm.order_to_matrix(jnp.argsort(scores))
    np.testing.assert_allclose(perm.soft_permutation(scores, 1e-4), hard, atol=1e-6)


@pytest.mark.parametrize("transpose", [False, True])
@given(
    n=SIZES,
    m=COLS,
    tau=st.sampled_from([0.1, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_straight_through_gradient_equals_softsort_autodiff(transpose, n, m, tau, seed):
    """Custom VJP == autodiff of the dense estimator P_hard + P_hat - sg(P_hat), for P x
    and for P^T x (`straight_through_permute_transposed`)."""
    scores, x, weights = (
        _random(seed, (n,)),
        _random(seed + 1, (n, m)),
        _random(seed + 2, (n, m)),
    )
    permute = (
        perm.straight_through_permute_transposed
        if transpose
        else perm.straight_through_permute
    )

    def fast(s, x):
        return jnp.sum(weights * jnp.tanh(permute(s, x, tau)))

    def dense(s, x):
        soft = perm.soft_permutation(s, tau)
        p = perm.order_to_matrix(jnp.argsort(s)) + soft - jax.lax.stop_gradient(soft)
        return jnp.sum(weights * jnp.tanh((p.T if transpose else p) @ x))

    np.testing.assert_allclose(fast(scores, x), dense(scores, x), rtol=1e-5, atol=1e-6)
    for got, want in zip(
        jax.grad(fast, (0, 1))(scores, x), jax.grad(dense, (0, 1))(scores, x)
    ):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@given(n=SIZES, m=COLS, tau=st.sampled_from([0.1, 1.0]), seed=st.integers(0, 2**16))
def test_backward_noise_keeps_the_clean_forward_and_the_noisy_softsort_gradient(
    n, m, tau, seed
):
    """Our extension: forward `x[argsort(v)]` whatever the noise g; gradients those of
    the dense estimator `P_hard(v) + P_hat(v + g) - sg(P_hat(v + g))`."""
    scores, x, weights = (
        _random(seed, (n,)),
        _random(seed + 1, (n, m)),
        _random(seed + 2, (n, m)),
    )
    noise = perm.perturb_scores(jnp.zeros(n), scale=0.5, key=jax.random.key(seed + 3))

    def fast(s, x):
        return jnp.sum(
            weights
            * jnp.tanh(perm.straight_through_permute(s, x, tau, backward_noise=noise))
        )

    def dense(s, x):
        soft = perm.soft_permutation(s + noise, tau)
        p = perm.order_to_matrix(jnp.argsort(s)) + soft - jax.lax.stop_gradient(soft)
        return jnp.sum(weights * jnp.tanh(p @ x))

    out = perm.straight_through_permute(scores, x, tau, backward_noise=noise)
    np.testing.assert_array_equal(out, x[jnp.argsort(scores)])
    np.testing.assert_allclose(fast(scores, x), dense(scores, x), rtol=1e-5, atol=1e-6)
    for got, want in zip(
        jax.grad(fast, (0, 1))(scores, x), jax.grad(dense, (0, 1))(scores, x)
    ):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_backward_noise_changes_the_score_gradient_but_not_the_output():
    """The noise must reach the backward pass (a no-op noise would pass the test above
    whenever g is small against the score gaps)."""
    n = 16
    scores, x = perm.identity_scores(n), _random(1, (n, 3))
    noise = perm.perturb_scores(jnp.zeros(n), scale=0.1, key=jax.random.key(4))
    assert not np.array_equal(np.argsort(scores + noise), np.argsort(scores))

    def loss(s, g):
        return jnp.sum(jnp.tanh(perm.straight_through_permute(s, x, 0.1, backward_noise=g)))

    np.testing.assert_array_equal(
        perm.straight_through_permute(scores, x, 0.1, backward_noise=noise),
        perm.straight_through_permute(scores, x, 0.1),
    )
    with_noise = jax.grad(loss)(scores, noise)
    without = jax.grad(loss)(scores, jnp.zeros(n))
    assert float(jnp.max(jnp.abs(with_noise - without))) > 1e-3


def test_straight_through_score_gradient_matches_finite_differences_of_softsort():
    """Finite differences on the relaxed objective s -> loss(P_hat(s) @ x)."""
    n, tau = 6, 0.7
    scores = np.asarray(_random(0, (n,)), dtype=np.float64)
    x = np.asarray(_random(1, (n,)), dtype=np.float64)
    c = np.asarray(_random(2, (n,)), dtype=np.float64)

    def relaxed(s):
        return float(c @ (_softsort_numpy(s, tau) @ x))

    eps = 1e-6
    fd = np.array(
        [
            (relaxed(scores + eps * e) - relaxed(scores - eps * e)) / (2 * eps)
            for e in np.eye(n)
        ]
    )
    grad = jax.grad(
        lambda s: jnp.dot(
            jnp.asarray(c, jnp.float32),
            perm.straight_through_permute(s, jnp.asarray(x, jnp.float32), tau),
        )
    )(jnp.asarray(scores, jnp.float32))
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-5)


# ---------------------------------------------------------- activation commutation


@given(
    n=SIZES,
    name=st.sampled_from(sorted(ACTIVATIONS)),
    seed=st.integers(0, 2**16),
)
def test_elementwise_activation_commutes_with_permutation(n, name, seed):
    """sigma(P x) == P sigma(x): the identity behind Eq. 10."""
    act = ACTIVATIONS[name]
    x = 3 * _random(seed, (n,))
    order = jnp.argsort(_random(seed + 1, (n,)))
    np.testing.assert_array_equal(
        act(perm.apply_to_vector(order, x)), perm.apply_to_vector(order, act(x))
    )


# -------------------------------------------------------------------- orders


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_orders_form_a_group_exhaustively(n):
    orders = jnp.stack(_all_orders(n))
    identity = perm.identity_order(n)
    mats = jax.vmap(perm.order_to_matrix)(orders)
    # associativity over every triple
    idx = np.array(list(itertools.product(range(len(orders)), repeat=3)))
    a, b, c = orders[idx[:, 0]], orders[idx[:, 1]], orders[idx[:, 2]]
    left = jax.vmap(perm.compose)(jax.vmap(perm.compose)(a, b), c)
    right = jax.vmap(perm.compose)(a, jax.vmap(perm.compose)(b, c))
    np.testing.assert_array_equal(left, right)
    for z, m in zip(orders, mats):
        np.testing.assert_array_equal(perm.compose(identity, z), z)
        np.testing.assert_array_equal(perm.compose(z, identity), z)
        np.testing.assert_array_equal(perm.compose(z, perm.invert(z)), identity)
        np.testing.assert_array_equal(perm.compose(perm.invert(z), z), identity)
        np.testing.assert_array_equal(perm.order_to_matrix(perm.invert(z)), m.T)
    # compose is the matrix product P_a P_b
    pairs = np.array(list(itertools.product(range(len(orders)), repeat=2)))
    composed = jax.vmap(perm.compose)(orders[pairs[:, 0]], orders[pairs[:, 1]])
    np.testing.assert_array_equal(
        jax.vmap(perm.order_to_matrix)(composed), mats[pairs[:, 0]] @ mats[pairs[:, 1]]
    )


def test_orders_of_five_form_a_group():
    orders = jnp.stack(_all_orders(5))
    mats = jax.vmap(perm.order_to_matrix)(orders)
    pairs = np.array(list(itertools.product(range(len(orders)), repeat=2)))
    composed = jax.vmap(perm.compose)(orders[pairs[:, 0]], orders[pairs[:, 1]])
    np.testing.assert_array_equal(
        jax.vmap(perm.order_to_matrix)(composed), mats[pairs[:, 0]] @ mats[pairs[:, 1]]
    )
    inverses = jax.vmap(perm.invert)(orders)
    np.testing.assert_array_equal(
        jax.vmap(perm.order_to_matrix)(inverses), mats.transpose(0, 2, 1)
    )


@given(n=SIZES, m=COLS, seed=st.integers(0, 2**16))
def test_apply_to_rows_and_columns_are_matrix_products(n, m, seed):
    order = jnp.argsort(_random(seed, (n,)))
    matrix = perm.order_to_matrix(order)
    rows, cols, vec = (
        _random(seed + 1, (n, m)),
        _random(seed + 2, (m, n)),
        _random(seed + 3, (n,)),
    )
    np.testing.assert_array_equal(perm.apply_to_rows(order, rows), matrix @ rows)
    np.testing.assert_array_equal(perm.apply_to_columns(order, cols), cols @ matrix.T)
    np.testing.assert_array_equal(perm.apply_to_vector(order, vec), matrix @ vec)


# -------------------------------------------------------------- scores and noise


@given(n=SIZES)
def test_identity_scores_are_an_arithmetic_sequence_on_unit_interval(n):
    scores = np.asarray(perm.identity_scores(n))
    np.testing.assert_array_equal(
        np.asarray(perm.order_from_scores(jnp.asarray(scores))), np.arange(n)
    )
    if n > 1:
        assert scores[0] == 0.0 and scores[-1] == pytest.approx(1.0)
        np.testing.assert_allclose(np.diff(scores), 1.0 / (n - 1), rtol=1e-4)


@given(n=SIZES, seed=st.integers(0, 2**16))
def test_scores_from_order_reproduce_the_order(n, seed):
    order = jnp.argsort(_random(seed, (n,))).astype(jnp.int32)
    np.testing.assert_array_equal(
        perm.order_from_scores(perm.scores_from_order(order)), order
    )


def test_gumbel_noise_has_the_gumbel_mean_and_scale():
    scale = 0.1
    noisy = perm.perturb_scores(jnp.zeros(200_000), scale=scale, key=jax.random.key(0))
    assert float(noisy.mean()) == pytest.approx(scale * np.euler_gamma, rel=0.02)
    assert float(noisy.std()) == pytest.approx(scale * np.pi / np.sqrt(6), rel=0.02)


@given(factor=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_gradient_multiplier_scales_gradient_and_keeps_value(factor, seed):
    x = _random(seed, (5,))

    def f(x):
        return jnp.sum(jnp.sin(x) ** 2)

    np.testing.assert_array_equal(perm.scale_gradient(x, float(factor)), x)
    np.testing.assert_allclose(
        jax.grad(lambda x: f(perm.scale_gradient(x, float(factor))))(x),
        factor * jax.grad(f)(x),
        rtol=1e-6,
    )
