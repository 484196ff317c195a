"""Oracles for the rewired network (Eq. 2, 5, 7, 9-12): NumPy restatements, identities."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewire_eqx import permutation as perm
from rewire_eqx.networks import (
    ACTIVATIONS,
    PlainMLP,
    RewiredMLP,
    alignment_loss,
    cache_wiring,
    l2_loss,
    parameter_counts,
    refine_cached_orders,
    reset_adapters,
    restart_scores,
)

pytestmark = pytest.mark.usefixtures("strict_promotion")

WIDTHS = st.lists(st.sampled_from([1, 3, 8, 16]), min_size=1, max_size=3).map(tuple)
ACTIVATION = st.sampled_from(sorted(ACTIVATIONS))
SEED = st.integers(0, 2**16)
IN, OUT = 5, 4


def _nets(widths, activation, seed, *, num_heads=3, num_modes=3, num_tasks=4):
    body = PlainMLP(
        IN,
        widths,
        OUT,
        num_heads=num_heads,
        activation=activation,
        key=jax.random.key(seed),
    )
    return body, RewiredMLP(body, num_modes=num_modes, num_tasks=num_tasks)


def _random_orders(seed, widths):
    keys = jax.random.split(jax.random.key(seed), len(widths))
    return tuple(
        jax.random.permutation(k, n).astype(jnp.int32) for k, n in zip(keys, widths)
    )


def _random_scores(seed, widths, rows):
    keys = jax.random.split(jax.random.key(seed), len(widths))
    return tuple(jax.random.uniform(k, (rows, n)) for k, n in zip(keys, widths))


def _numpy_forward(body, orders, head, x, activation):
    """Eq. 2 in NumPy: h_l = sigma(P_l (W_l h + b_l)), y = W_L h + b_L."""
    act = {
        "leaky_relu": lambda v: np.where(v >= 0, v, 0.2 * v),
        "relu": lambda v: np.maximum(v, 0),
        "tanh": np.tanh,
    }.get(activation, lambda v: np.asarray(ACTIVATIONS[activation](jnp.asarray(v))))
    h = np.asarray(x, np.float64)
    for layer, order in zip(body.hidden, orders):
        pre = np.asarray(layer.weight, np.float64) @ h + np.asarray(layer.bias, np.float64)
        h = act(np.eye(len(pre))[np.asarray(order)] @ pre)
    w, b = (
        np.asarray(body.heads.weight[head], np.float64),
        np.asarray(body.heads.bias[head], np.float64),
    )
    return w @ h + b


@given(widths=WIDTHS, activation=ACTIVATION, seed=SEED)
def test_identity_scores_make_rewired_mlp_equal_plain_mlp(widths, activation, seed):
    body, net = _nets(widths, activation, seed)
    x = jax.random.normal(jax.random.key(seed + 1), (IN,))
    for head in range(body.num_heads):
        np.testing.assert_array_equal(net(x, head=head, mode=0), body(x, head=head))
        np.testing.assert_array_equal(net.with_task(1)(x, head=head), body(x, head=head))


@given(
    widths=WIDTHS,
    activation=ACTIVATION,
    seed=SEED,
    mode=st.integers(0, 2),
    head=st.integers(0, 2),
)
def test_mode_forward_matches_numpy_restatement_of_eq2(
    widths, activation, seed, mode, head
):
    body, net = _nets(widths, activation, seed)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(seed + 7, widths, 3))
    x = jax.random.normal(jax.random.key(seed + 1), (IN,))
    orders = [jnp.argsort(s[mode]) for s in net.scores]
    np.testing.assert_allclose(
        net(x, head=head, mode=mode),
        _numpy_forward(body, orders, head, x, activation),
        rtol=1e-4,
        atol=1e-5,
    )


def test_mode_forward_with_noise_key_uses_the_perturbed_order():
    widths = (8, 8)
    body, net = _nets(widths, "leaky_relu", 0)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(3, widths, 3))
    key = jax.random.key(11)
    keys = jax.random.split(key, len(widths))
    orders = [
        jnp.argsort(s[1] + net.noise_scale * jax.random.gumbel(k, (8,)))
        for s, k in zip(net.scores, keys)
    ]
    x = jnp.linspace(-1.0, 1.0, IN)
    np.testing.assert_allclose(
        net(x, head=0, mode=1, key=key),
        _numpy_forward(body, orders, 0, x, "leaky_relu"),
        rtol=1e-4,
        atol=1e-5,
    )


@given(widths=WIDTHS, seed=SEED, mode=st.integers(0, 2), task=st.integers(0, 3))
def test_cached_wiring_reproduces_the_mode_it_cached(widths, seed, mode, task):
    _, net = _nets(widths, "tanh", seed)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(seed + 3, widths, 3))
    cached = cache_wiring(net, mode=mode, task=task)
    x = jax.random.normal(jax.random.key(seed), (IN,))
    np.testing.assert_array_equal(
        cached.with_task(task)(x, head=1), net(x, head=1, mode=mode)
    )
    for other in range(net.num_tasks):
        if other != task:  # other rows untouched (still identity)
            for orders in cached.cached_orders:
                np.testing.assert_array_equal(orders[other], np.arange(orders.shape[1]))


def _adapters_from_orders(net, inner_orders, outer_orders):
    return eqx.tree_at(
        lambda n: (n.adapter_in, n.adapter_out),
        net,
        (
            tuple(perm.scores_from_order(z) for z in inner_orders[: len(net.adapter_in)]),
            tuple(perm.scores_from_order(z) for z in outer_orders),
        ),
    )


def _weights_moved_by_adapters(body, inner, outer, shared_head):
    """Eq. 10: W_l -> P''_l^T W_l P'_{l-1} (biases: P''_l^T b_l); head -> W_L P'_{L-1}."""
    layers = []
    for l, layer in enumerate(body.hidden):
        w = perm.apply_to_rows(perm.invert(outer[l]), layer.weight)
        if l > 0:
            w = perm.apply_to_columns(perm.invert(inner[l - 1]), w)
        b = perm.apply_to_vector(perm.invert(outer[l]), layer.bias)
        layers.append(eqx.tree_at(lambda lin: (lin.weight, lin.bias), layer, (w, b)))
    moved = eqx.tree_at(lambda b: b.hidden, body, tuple(layers))
    if shared_head:
        head_w = jax.vmap(lambda w: perm.apply_to_columns(perm.invert(inner[-1]), w))(
            body.heads.weight
        )
        moved = eqx.tree_at(lambda b: b.heads.weight, moved, head_w)
    return moved


@pytest.mark.parametrize("num_heads", [1, 3])
@given(widths=WIDTHS, activation=ACTIVATION, seed=SEED)
def test_eq9_adapters_around_cached_wiring_equal_eq10_adapters_on_weights(
    num_heads, widths, activation, seed
):
    body, net = _nets(widths, activation, seed, num_heads=num_heads)
    cached = tuple(
        jnp.stack([_random_orders(seed + 10 + t, widths)[l] for t in range(net.num_tasks)])
        for l in range(len(widths))
    )
    net = eqx.tree_at(lambda n: n.cached_orders, net, cached)
    inner, outer = (
        list(_random_orders(seed + 1, widths)),
        list(_random_orders(seed + 2, widths)),
    )
    if num_heads > 1:  # the last hidden layer has no P' with task-specific heads
        inner[-1] = perm.identity_order(widths[-1])
    adapted = _adapters_from_orders(net, inner, outer)
    eq9 = refine_cached_orders(
        adapted, num_tasks=net.num_tasks
    )  # P' P^s P''^T on current W
    eq10 = eqx.tree_at(
        lambda n: n.body,
        net,
        _weights_moved_by_adapters(body, inner, outer, num_heads == 1),
    )
    x = jax.random.normal(jax.random.key(seed + 5), (IN,))
    for task in range(net.num_tasks):
        for head in range(num_heads):
            np.testing.assert_allclose(
                eq9.with_task(task)(x, head=head),
                eq10.with_task(task)(x, head=head),
                rtol=1e-5,
                atol=1e-5,
            )


@pytest.mark.parametrize("num_heads", [1, 3])
@given(widths=WIDTHS, activation=ACTIVATION, seed=SEED)
def test_alignment_identity_zero_loss_and_refined_orders_reproduce_old_outputs(
    num_heads, widths, activation, seed
):
    """If W_l = P''_l W_old_l P'_{l-1}^T, Eq. 11 is 0 and Eq. 12 restores every old task."""
    old_body, old_net = _nets(widths, activation, seed, num_heads=num_heads)
    cached = tuple(
        jnp.stack(
            [_random_orders(seed + 10 + t, widths)[l] for t in range(old_net.num_tasks)]
        )
        for l in range(len(widths))
    )
    old_net = eqx.tree_at(lambda n: n.cached_orders, old_net, cached)
    inner, outer = (
        list(_random_orders(seed + 1, widths)),
        list(_random_orders(seed + 2, widths)),
    )
    if num_heads > 1:
        inner[-1] = perm.identity_order(widths[-1])
    # current weights: the old ones permuted by the adapters (inverse of the Eq. 10 move)
    layers = []
    for l, layer in enumerate(old_body.hidden):
        w = perm.apply_to_rows(outer[l], layer.weight)
        if l > 0:
            w = perm.apply_to_columns(inner[l - 1], w)
        layers.append(
            eqx.tree_at(
                lambda lin: (lin.weight, lin.bias),
                layer,
                (w, perm.apply_to_vector(outer[l], layer.bias)),
            )
        )
    new_body = eqx.tree_at(lambda b: b.hidden, old_body, tuple(layers))
    if num_heads == 1:
        new_body = eqx.tree_at(
            lambda b: b.heads.weight,
            new_body,
            jax.vmap(lambda w: perm.apply_to_columns(inner[-1], w))(old_body.heads.weight),
        )
    net = _adapters_from_orders(
        eqx.tree_at(lambda n: n.body, old_net, new_body), inner, outer
    )
    assert float(alignment_loss(net, old_body)) == pytest.approx(0.0, abs=1e-8)
    refined = refine_cached_orders(net, num_tasks=net.num_tasks)
    x = jax.random.normal(jax.random.key(seed + 4), (IN,))
    for task in range(net.num_tasks):
        for head in range(num_heads):
            np.testing.assert_allclose(
                refined.with_task(task)(x, head=head),
                old_net.with_task(task)(x, head=head),
                rtol=1e-5,
                atol=1e-5,
            )
    # the identity adapters are not aligned (unless the adapters happen to be identities)
    nonidentity = any(not np.array_equal(z, np.arange(len(z))) for z in outer + inner)
    if nonidentity:
        assert float(alignment_loss(reset_adapters(net), old_body)) > 0


def _alignment_numpy(net, anchor):
    total = 0.0
    inner_prev = None
    for l, (layer, old) in enumerate(zip(net.body.hidden, anchor.hidden)):
        p_out = np.eye(layer.out_features)[
            np.argsort(np.asarray(net.adapter_out[l]), kind="stable")
        ]
        target_w = p_out @ np.asarray(old.weight, np.float64)
        if inner_prev is not None:
            target_w = target_w @ inner_prev.T
        target_b = p_out @ np.asarray(old.bias, np.float64)
        total += np.sum((np.asarray(layer.weight) - target_w) ** 2) + np.sum(
            (np.asarray(layer.bias) - target_b) ** 2
        )
        inner_prev = (
            np.eye(layer.out_features)[
                np.argsort(np.asarray(net.adapter_in[l]), kind="stable")
            ]
            if l < len(net.adapter_in)
            else None
        )
    if net.body.num_heads == 1:
        head, old = net.body.head(0), anchor.head(0)
        total += np.sum(
            (np.asarray(head.weight) - np.asarray(old.weight) @ inner_prev.T) ** 2
        )
        total += np.sum((np.asarray(head.bias) - np.asarray(old.bias)) ** 2)
    return total


@pytest.mark.parametrize("num_heads", [1, 3])
@given(widths=WIDTHS, seed=SEED)
def test_alignment_and_l2_losses_match_numpy_restatements(num_heads, widths, seed):
    anchor, _ = _nets(widths, "relu", seed, num_heads=num_heads)
    body, net = _nets(widths, "relu", seed + 1, num_heads=num_heads)
    net = eqx.tree_at(
        lambda n: (n.adapter_in, n.adapter_out),
        net,
        (
            tuple(
                s[0]
                for s in _random_scores(seed + 2, [a.shape[0] for a in net.adapter_in], 1)
            ),
            tuple(s[0] for s in _random_scores(seed + 3, widths, 1)),
        ),
    )
    np.testing.assert_allclose(
        alignment_loss(net, anchor), _alignment_numpy(net, anchor), rtol=1e-4
    )
    layers = list(zip(body.hidden, anchor.hidden)) + (
        [(body.head(0), anchor.head(0))] if num_heads == 1 else []
    )
    expected = sum(
        np.sum((np.asarray(a.weight) - np.asarray(b.weight)) ** 2)
        + np.sum((np.asarray(a.bias) - np.asarray(b.bias)) ** 2)
        for a, b in layers
    )
    np.testing.assert_allclose(l2_loss(body, anchor), expected, rtol=1e-4)


def test_alignment_loss_sends_gradients_to_weights_and_adapters():
    anchor, _ = _nets((8, 8), "leaky_relu", 0, num_heads=1)
    _, net = _nets((8, 8), "leaky_relu", 1, num_heads=1)
    grads = eqx.filter_grad(lambda n: alignment_loss(n, anchor))(net)
    for tree in (
        grads.body.hidden[0].weight,
        grads.adapter_out[0],
        grads.adapter_out[1],
        grads.adapter_in[0],
        grads.adapter_in[1],
    ):
        assert float(jnp.abs(tree).sum()) > 0


@given(num_modes=st.integers(1, 5), seed=SEED)
def test_gradient_multiplier_scales_score_gradients_by_exactly_K(num_modes, seed):
    widths = (8, 3)
    body = PlainMLP(IN, widths, OUT, num_heads=1, key=jax.random.key(seed))
    net = RewiredMLP(body, num_modes=num_modes, num_tasks=1)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(seed + 1, widths, num_modes))
    mode = num_modes - 1
    xs = jax.random.normal(jax.random.key(seed + 2), (4, IN))

    def loss_net(scores):
        n = eqx.tree_at(lambda n: n.scores, net, scores)
        return jnp.sum(jax.vmap(lambda x: n(x, mode=mode))(xs) ** 2)

    def loss_manual(mode_scores):  # the same network without the multiplier
        h = xs.T
        for layer, s in zip(body.hidden, mode_scores):
            wb = perm.straight_through_permute(
                s, jnp.concatenate([layer.weight, layer.bias[:, None]], 1), net.tau
            )
            h = ACTIVATIONS["leaky_relu"](wb[:, :-1] @ h + wb[:, -1:])
        head = body.head(0)
        return jnp.sum((head.weight @ h + head.bias[:, None]) ** 2)

    mode_scores = tuple(s[mode] for s in net.scores)
    np.testing.assert_allclose(loss_net(net.scores), loss_manual(mode_scores), rtol=1e-5)
    got = jax.grad(loss_net)(net.scores)
    want = jax.grad(loss_manual)(mode_scores)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g[mode], num_modes * w, rtol=1e-4, atol=1e-7)
        others = [k for k in range(num_modes) if k != mode]
        np.testing.assert_array_equal(
            g[jnp.array(others, dtype=jnp.int32)] if others else jnp.zeros(0), 0.0
        )


def test_restart_scores_and_refine_only_touches_seen_tasks():
    widths = (8, 8)
    _, net = _nets(widths, "tanh", 0, num_heads=1)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(1, widths, 3))
    restarted = restart_scores(net, mode=2)
    for s, kept in zip(restarted.scores, net.mode_orders(2)):
        for k in range(3):
            np.testing.assert_array_equal(jnp.argsort(s[k]), kept)
    inner, outer = _random_orders(5, widths), _random_orders(6, widths)
    adapted = _adapters_from_orders(net, inner, outer)
    refined = refine_cached_orders(adapted, num_tasks=2)
    for l, orders in enumerate(refined.cached_orders):
        expected = perm.compose(
            perm.compose(inner[l], perm.identity_order(8)), perm.invert(outer[l])
        )
        np.testing.assert_array_equal(orders[:2], jnp.stack([expected, expected]))
        np.testing.assert_array_equal(orders[2:], jnp.tile(jnp.arange(8), (2, 1)))
    np.testing.assert_array_equal(
        jnp.concatenate(refine_cached_orders(net, num_tasks=4).cached_orders),
        jnp.concatenate(net.cached_orders),
    )


def test_one_cached_wiring_is_under_half_a_percent_of_the_paper_actor():
    """The paper: 'less than 0.5% per wiring' (4-layer actor, 256 hidden, HalfCheetah)."""
    obs, actions, tasks = 18, 6, 8
    body = PlainMLP(
        obs, (256, 256, 256), 2 * actions, num_heads=tasks, key=jax.random.key(0)
    )
    counts = parameter_counts(RewiredMLP(body, num_modes=3, num_tasks=tasks))
    hidden = (obs * 256 + 256) + 2 * (256 * 256 + 256)
    head = 256 * 2 * actions + 2 * actions
    assert counts.weights == hidden + tasks * head
    assert counts.weights_one_head == hidden + head
    assert counts.wiring_entries == 3 * 256
    assert counts.cached_wiring_entries == tasks * 3 * 256
    assert counts.scores == 3 * 3 * 256
    assert counts.wiring_entries / counts.weights < 0.005  # 0.48% with the 8 task heads
    assert counts.wiring_bytes == 3 * 256  # uint8 indices
    assert counts.wiring_bytes / (4 * counts.weights_one_head) < 0.005  # 0.14% in bytes


def test_plain_mlp_counts_have_no_wiring():
    body = PlainMLP(3, (4,), 2, num_heads=2, key=jax.random.key(0))
    counts = parameter_counts(body)
    assert counts.weights == (3 * 4 + 4) + 2 * (4 * 2 + 2)
    assert counts.trainable == counts.weights and counts.cached_wiring_entries == 0
