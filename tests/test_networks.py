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
    aligned_anchor_layer,
    alignment_loss,
    cache_wiring,
    l2_loss,
    parameter_counts,
    refine_cached_orders,
    respace_scores,
    restart_scores,
)

pytestmark = pytest.mark.usefixtures("strict_promotion")

WIDTHS = st.lists(st.sampled_from([1, 3, 8, 16]), min_size=1, max_size=3).map(tuple)
ACTIVATION = st.sampled_from(sorted(ACTIVATIONS))
SEED = st.integers(0, 2**16)
IN, OUT = 5, 4


def _nets(widths, activation, seed, *, num_heads=3, num_modes=3, num_slots=4):
    body = PlainMLP(
        IN,
        widths,
        OUT,
        num_heads=num_heads,
        activation=activation,
        key=jax.random.key(seed),
    )
    return body, RewiredMLP(body, num_modes=num_modes, num_slots=num_slots)


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


def test_clean_forward_option_ignores_the_noise_in_the_forward_pass():
    """`noisy_forward=False` (our extension): a noisy pass computes the clean order's
    network, and the scores' gradient differs from the noise-free pass's."""
    widths = (8, 8)
    body, net = _nets(widths, "leaky_relu", 0)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(3, widths, 3))
    clean = RewiredMLP(body, num_modes=3, num_slots=4, noisy_forward=False)
    clean = eqx.tree_at(lambda n: n.scores, clean, net.scores)
    key = jax.random.key(11)
    x = jnp.linspace(-1.0, 1.0, IN)
    orders = [jnp.argsort(s[1]) for s in net.scores]
    np.testing.assert_allclose(
        clean(x, head=0, mode=1, key=key),
        _numpy_forward(body, orders, 0, x, "leaky_relu"),
        rtol=1e-4,
        atol=1e-5,
    )
    assert not np.allclose(
        net(x, head=0, mode=1, key=key), clean(x, head=0, mode=1, key=key)
    )

    def score_grad(actor, k):
        return eqx.filter_grad(lambda a: jnp.sum(a(x, head=0, mode=1, key=k) ** 2))(
            actor
        ).scores[0][1]

    assert not np.allclose(score_grad(clean, key), score_grad(clean, None))


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


@given(widths=WIDTHS, seed=SEED, mode=st.integers(0, 2), slot=st.integers(0, 3))
def test_cached_wiring_reproduces_the_mode_it_cached(widths, seed, mode, slot):
    _, net = _nets(widths, "tanh", seed)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(seed + 3, widths, 3))
    cached = cache_wiring(net, mode=mode, slot=slot)
    x = jax.random.normal(jax.random.key(seed), (IN,))
    np.testing.assert_array_equal(
        cached.with_task(slot)(x, head=1), net(x, head=1, mode=mode)
    )
    for other in range(net.num_slots):
        if other != slot:  # other rows untouched (still identity)
            for orders in cached.cached_orders:
                np.testing.assert_array_equal(orders[other], np.arange(orders.shape[1]))


def _adapters_from_orders(net, inner_orders, outer_orders):
    """Adapter scores whose hard orders are the given ones (`inner_orders[l]` is the
    input-side adapter of hidden layer l + 1)."""
    return eqx.tree_at(
        lambda n: (n.adapter_in, n.adapter_out),
        net,
        (
            tuple(perm.scores_from_order(z) for z in inner_orders[: len(net.adapter_in)]),
            tuple(perm.scores_from_order(z) for z in outer_orders),
        ),
    )


def _moved_by_adapters(body, inner, outer, form):
    """The alignment target with hard adapters: W_l -> Z_l^T W_l A_l and b_l -> Z_l^T b_l
    (code), or W_l -> Z_l W_l A_l^T and b_l -> Z_l b_l (paper), with
    Z_l = I[outer_l] and A_l = I[inner_{l-1}] (none for l = 0); heads unchanged."""
    layers = []
    for l, layer in enumerate(body.hidden):
        z = np.eye(layer.out_features)[np.asarray(outer[l])]
        z = z.T if form == "code" else z
        w = z @ np.asarray(layer.weight, np.float64)
        if l > 0:
            a = np.eye(layer.in_features)[np.asarray(inner[l - 1])]
            w = w @ (a if form == "code" else a.T)
        b = z @ np.asarray(layer.bias, np.float64)
        new = (jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32))
        layers.append(eqx.tree_at(lambda lin: (lin.weight, lin.bias), layer, new))
    return eqx.tree_at(lambda b: b.hidden, body, tuple(layers))


@pytest.mark.parametrize("form", ["paper", "code"])
@pytest.mark.parametrize("num_heads", [1, 3])
@given(widths=WIDTHS, activation=ACTIVATION, seed=SEED)
def test_refined_orders_on_aligned_weights_reproduce_every_old_slot(
    form, num_heads, widths, activation, seed
):
    """If W_l = Z_l W_old_l A_l^T (zero alignment residual, the paper's form), Eq. 12
    (z <- invert(zo_l)[z][ao_{l+1}]) makes every cached slot act as before; the same for
    the published code's form (W_l = Z_l^T W_old_l A_l, z <- zo_l[z][invert(ao_{l+1})])."""
    old_body, old_net = _nets(widths, activation, seed, num_heads=num_heads)
    old_net = RewiredMLP(old_body, num_modes=3, num_slots=4, adapter_form=form)
    cached = tuple(
        jnp.stack(
            [_random_orders(seed + 10 + t, widths)[l] for t in range(old_net.num_slots)]
        )
        for l in range(len(widths))
    )
    old_net = eqx.tree_at(lambda n: n.cached_orders, old_net, cached)
    inner = list(_random_orders(seed + 1, widths))[:-1]
    outer = list(_random_orders(seed + 2, widths))
    moved = _moved_by_adapters(old_body, inner, outer, form)
    net = _adapters_from_orders(eqx.tree_at(lambda n: n.body, old_net, moved), inner, outer)
    for l in range(len(widths)):  # the residual ||W - target||^2 is zero
        target = aligned_anchor_layer(net, old_body, l)
        current = jnp.concatenate(
            [net.body.hidden[l].weight, net.body.hidden[l].bias[:, None]], 1
        )
        np.testing.assert_allclose(current, target, atol=1e-6)
    refined = refine_cached_orders(net, num_slots=net.num_slots)
    x = jax.random.normal(jax.random.key(seed + 4), (IN,))
    for slot in range(net.num_slots):
        for head in range(num_heads):
            np.testing.assert_allclose(
                refined.with_task(slot)(x, head=head),
                old_net.with_task(slot)(x, head=head),
                rtol=1e-5,
                atol=1e-5,
            )


def _straight_through_dense(v, tau):
    """The published SoftSort: soft rows, hard = one-hot of each row's argmax, and
    hard + soft - stop_gradient(soft)."""
    soft = jax.nn.softmax(-jnp.abs(jnp.sort(v)[:, None] - v[None, :]) / tau, axis=-1)
    hard = jax.nn.one_hot(jnp.argmax(soft, axis=-1), v.shape[0])
    return hard + soft - jax.lax.stop_gradient(soft)


def _published_alignment(weights, biases, head, adapter_out, adapter_in, anchor, tau, form):
    """The published regulariser, restated with dense matrices:
    sum_l ||W_l||^2 - 2 <W_l, zp_l^T W_old_l ap_l> (+ the same for biases), plus plain
    L2 on a shared head (form "code"); with form "paper" the target is
    zp_l W_old_l ap_l^T (Eq. 11 as written)."""
    total = 0.0
    for l, (w, b) in enumerate(zip(weights, biases)):
        zp = _straight_through_dense(adapter_out[l], tau)
        zp = zp.T if form == "code" else zp
        old_w, old_b = anchor.hidden[l].weight, anchor.hidden[l].bias
        target_w = zp @ old_w
        if l > 0:
            ap = _straight_through_dense(adapter_in[l - 1], tau)
            target_w = target_w @ (ap if form == "code" else ap.T)
        total = total + jnp.sum(w**2) - 2 * jnp.sum(target_w * w)
        total = total + jnp.sum(b**2) - 2 * jnp.sum((zp @ old_b) * b)
    if head is not None:
        total = total + jnp.sum((head[0] - anchor.head(0).weight) ** 2)
        total = total + jnp.sum((head[1] - anchor.head(0).bias) ** 2)
    return total


def _alignment_numpy(net, anchor):
    """Value of the published loss with hard permutations, in float64 NumPy."""
    code = net.adapter_form == "code"
    total = 0.0
    for l, (layer, old) in enumerate(zip(net.body.hidden, anchor.hidden)):
        zo = np.argsort(np.asarray(net.adapter_out[l]), kind="stable")
        z = np.eye(layer.out_features)[zo]
        z = z.T if code else z
        target_w = z @ np.asarray(old.weight, np.float64)
        if l > 0:
            ao = np.argsort(np.asarray(net.adapter_in[l - 1]), kind="stable")
            a = np.eye(layer.in_features)[ao]
            target_w = target_w @ (a if code else a.T)
        w, b = np.asarray(layer.weight, np.float64), np.asarray(layer.bias, np.float64)
        total += np.sum(w**2) - 2 * np.sum(w * target_w)
        total += np.sum(b**2) - 2 * np.sum(b * (z @ np.asarray(old.bias, np.float64)))
    if net.body.num_heads == 1:
        head, old = net.body.head(0), anchor.head(0)
        total += np.sum((np.asarray(head.weight) - np.asarray(old.weight)) ** 2)
        total += np.sum((np.asarray(head.bias) - np.asarray(old.bias)) ** 2)
    return total


def _net_with_random_adapters(widths, seed, num_heads, form="paper"):
    anchor, _ = _nets(widths, "relu", seed, num_heads=num_heads)
    body, _ = _nets(widths, "relu", seed + 1, num_heads=num_heads)
    net = RewiredMLP(body, num_modes=3, num_slots=4, adapter_form=form)
    net = eqx.tree_at(
        lambda n: (n.adapter_in, n.adapter_out),
        net,
        (
            tuple(s[0] for s in _random_scores(seed + 2, widths[:-1], 1)),
            tuple(s[0] for s in _random_scores(seed + 3, widths, 1)),
        ),
    )
    return anchor, body, net


@pytest.mark.parametrize("form", ["paper", "code"])
@pytest.mark.parametrize("num_heads", [1, 3])
@given(widths=WIDTHS, seed=SEED)
def test_alignment_loss_value_matches_numpy_and_the_published_formula(
    form, num_heads, widths, seed
):
    anchor, body, net = _net_with_random_adapters(widths, seed, num_heads, form)
    np.testing.assert_allclose(
        alignment_loss(net, anchor), _alignment_numpy(net, anchor), rtol=1e-4, atol=1e-4
    )
    head = (net.body.head(0).weight, net.body.head(0).bias) if num_heads == 1 else None
    published = _published_alignment(
        [layer.weight for layer in net.body.hidden],
        [layer.bias for layer in net.body.hidden],
        head,
        net.adapter_out,
        net.adapter_in,
        anchor,
        net.adapter_tau,
        form,
    )
    np.testing.assert_allclose(alignment_loss(net, anchor), published, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("form", ["paper", "code"])
@pytest.mark.parametrize("num_heads", [1, 3])
@given(
    widths=st.lists(st.sampled_from([3, 8]), min_size=2, max_size=3).map(tuple), seed=SEED
)
def test_alignment_gradients_to_weights_and_adapters_match_the_published_formula(
    form, num_heads, widths, seed
):
    """Gradients of the gather-based loss equal autodiff of the dense published formula
    (straight-through SoftSort, tau_2), for the weights AND the adapter scores."""
    anchor, body, net = _net_with_random_adapters(widths, seed, num_heads, form)
    grads = eqx.filter_grad(lambda n: alignment_loss(n, anchor))(net)

    def published(weights, biases, head, adapter_out, adapter_in):
        return _published_alignment(
            weights, biases, head, adapter_out, adapter_in, anchor, net.adapter_tau, form
        )

    head = (net.body.head(0).weight, net.body.head(0).bias) if num_heads == 1 else None
    want = jax.grad(published, argnums=(0, 1, 2, 3, 4))(
        [layer.weight for layer in net.body.hidden],
        [layer.bias for layer in net.body.hidden],
        head,
        net.adapter_out,
        net.adapter_in,
    )
    for l in range(len(widths)):
        np.testing.assert_allclose(
            grads.body.hidden[l].weight, want[0][l], rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(
            grads.body.hidden[l].bias, want[1][l], rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(grads.adapter_out[l], want[3][l], rtol=1e-3, atol=1e-4)
    for l in range(len(widths) - 1):
        np.testing.assert_allclose(grads.adapter_in[l], want[4][l], rtol=1e-3, atol=1e-4)
    if num_heads == 1:
        np.testing.assert_allclose(
            grads.body.heads.weight[0], want[2][0], rtol=1e-4, atol=1e-5
        )
    else:  # task heads are not regularised
        np.testing.assert_array_equal(grads.body.heads.weight, 0.0)
    assert float(jnp.abs(grads.adapter_out[0]).sum()) > 0


def test_the_target_norm_term_would_push_the_adapters():
    """||W - target||^2 differs from the published form by ||target||^2, whose SoftSort
    gradient reaches the adapter scores: the two forms give different adapter
    gradients (the published one is ours)."""
    anchor, _, net = _net_with_random_adapters((8, 8), 3, 3)

    def full_square(n):
        total = 0.0
        for l, layer in enumerate(n.body.hidden):
            current = jnp.concatenate([layer.weight, layer.bias[:, None]], 1)
            total = total + jnp.sum((current - aligned_anchor_layer(n, anchor, l)) ** 2)
        return total

    ours = eqx.filter_grad(lambda n: alignment_loss(n, anchor))(net)
    square = eqx.filter_grad(full_square)(net)
    np.testing.assert_allclose(  # same weight gradients
        ours.body.hidden[1].weight, square.body.hidden[1].weight, rtol=1e-4, atol=1e-5
    )
    assert not np.allclose(ours.adapter_out[1], square.adapter_out[1], atol=1e-4)


@pytest.mark.parametrize("num_heads", [1, 3])
@given(widths=WIDTHS, seed=SEED)
def test_l2_loss_matches_numpy_restatement_of_eq7(num_heads, widths, seed):
    anchor, body, _ = _net_with_random_adapters(widths, seed, num_heads)
    layers = list(zip(body.hidden, anchor.hidden)) + (
        [(body.head(0), anchor.head(0))] if num_heads == 1 else []
    )
    expected = sum(
        np.sum((np.asarray(a.weight) - np.asarray(b.weight)) ** 2)
        + np.sum((np.asarray(a.bias) - np.asarray(b.bias)) ** 2)
        for a, b in layers
    )
    np.testing.assert_allclose(l2_loss(body, anchor), expected, rtol=1e-4)


@given(num_modes=st.integers(1, 5), seed=SEED)
def test_gradient_multiplier_scales_score_gradients_by_exactly_K(num_modes, seed):
    widths = (8, 3)
    body = PlainMLP(IN, widths, OUT, num_heads=1, key=jax.random.key(seed))
    net = RewiredMLP(body, num_modes=num_modes, num_slots=1)
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


def test_restart_scores_and_refine_only_touches_the_given_slots():
    widths = (8, 8)
    _, net = _nets(widths, "tanh", 0, num_heads=1)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(1, widths, 3))
    restarted = restart_scores(net, mode=2)
    for s, kept in zip(restarted.scores, net.mode_orders(2)):
        for k in range(3):
            np.testing.assert_array_equal(jnp.argsort(s[k]), kept)
    inner, outer = _random_orders(5, widths), _random_orders(6, widths)
    adapted = _adapters_from_orders(net, inner, outer)
    refined = refine_cached_orders(adapted, num_slots=2)
    # identity cached orders z (paper form): layer 0 -> invert(zo_0)[z][ao_1], last
    # layer -> invert(zo_1)[z]
    expected = [
        np.argsort(np.asarray(outer[0]))[np.asarray(inner[0])],
        np.argsort(np.asarray(outer[1])),
    ]
    for l, orders in enumerate(refined.cached_orders):
        np.testing.assert_array_equal(orders[:2], np.stack([expected[l]] * 2))
        np.testing.assert_array_equal(orders[2:], jnp.tile(jnp.arange(8), (2, 1)))
    np.testing.assert_array_equal(  # identity adapters change nothing
        jnp.concatenate(refine_cached_orders(net, num_slots=4).cached_orders),
        jnp.concatenate(net.cached_orders),
    )


def test_respace_keeps_each_order_and_spaces_scores_evenly():
    widths = (8, 5)
    _, net = _nets(widths, "tanh", 0)
    net = eqx.tree_at(lambda n: n.scores, net, _random_scores(7, widths, 3))
    spaced = respace_scores(net)
    for old, new in zip(net.scores, spaced.scores):
        np.testing.assert_array_equal(jnp.argsort(old, axis=1), jnp.argsort(new, axis=1))
        n = old.shape[1]
        np.testing.assert_allclose(
            jnp.sort(new, axis=1), np.tile(np.linspace(0, 1, n), (3, 1))
        )


def test_dropout_acts_only_with_a_key_and_matches_a_numpy_restatement():
    body = PlainMLP(
        IN, (64, 64), OUT, dropout=0.1, activation="relu", key=jax.random.key(0)
    )
    x = jax.random.normal(jax.random.key(1), (IN,))
    plain = PlainMLP(IN, (64, 64), OUT, activation="relu", key=jax.random.key(0))
    np.testing.assert_array_equal(body(x), plain(x))  # no key: evaluation, no dropout
    key = jax.random.key(2)
    keep = np.asarray(jax.random.bernoulli(key, 0.9, (128,)))  # both layers, one draw
    h = np.asarray(x, np.float64)
    for layer, units in zip(body.hidden, (slice(0, 64), slice(64, 128))):
        out = np.asarray(layer.weight, np.float64) @ h + np.asarray(layer.bias, np.float64)
        h = np.maximum(np.where(keep[units], out / 0.9, 0.0), 0.0)
    head = body.head(0)
    want = np.asarray(head.weight, np.float64) @ h + np.asarray(head.bias, np.float64)
    np.testing.assert_allclose(body(x, key=key), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(body(x, keep=jnp.asarray(keep)), body(x, key=key))
    drops = 1.0 - np.asarray(body.dropout_masks(key, (1000,)), np.float64)
    assert drops.shape == (1000, 128)
    assert abs(drops.mean() - 0.1) < 0.005  # 128k draws: standard error 8.4e-4
    # masks of different samples and of different units are independent
    assert abs(np.corrcoef(drops[:, 0], drops[:, 1])[0, 1]) < 0.1
    assert abs(np.corrcoef(drops[:-1, 0], drops[1:, 0])[0, 1]) < 0.1


def test_a_batched_training_pass_gives_every_sample_its_own_masks_from_one_draw():
    """`sac._policy_out` with a Dropout key, against a NumPy restatement of the network
    (LayerNorm + tanh after the first layer, LeakyReLU after the others) with the masks
    of `dropout_masks(key, (batch,))`; without a key, no Dropout."""
    from rewire_eqx import sac

    net = PlainMLP(
        5,
        (6, 4),
        3,
        num_heads=2,
        dropout=0.25,
        first_layer_norm=True,
        key=jax.random.key(0),
    )
    obs = jax.random.normal(jax.random.key(1), (7, 5))
    key = jax.random.key(2)
    keep = np.asarray(net.dropout_masks(key, (7,)))
    assert keep.shape == (7, 10) and 0 < keep.mean() < 1
    assert len({row.tobytes() for row in keep}) > 1  # samples differ
    x = np.asarray(obs, np.float64)
    for index, (layer, cols) in enumerate(zip(net.hidden, (slice(0, 6), slice(6, 10)))):
        z = x @ np.asarray(layer.weight, np.float64).T + np.asarray(layer.bias)
        z = np.where(keep[:, cols], z / 0.75, 0.0)
        if index == 0:
            z = np.tanh(
                (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-5)
            )
        else:
            z = np.where(z > 0, z, 0.2 * z)
        x = z
    head = net.head(1)
    expected = x @ np.asarray(head.weight, np.float64).T + np.asarray(head.bias)
    np.testing.assert_allclose(sac._policy_out(net, obs, 1, key), expected, atol=1e-5)
    without = np.asarray(sac._policy_out(net, obs, 1))
    np.testing.assert_allclose(without, jax.vmap(lambda o: net(o, head=1))(obs))
    assert not np.allclose(expected, without)


def test_one_cached_wiring_is_under_half_a_percent_of_the_paper_actor():
    """The paper: 'less than 0.5% per wiring' (4-layer actor, 256 hidden, HalfCheetah)."""
    obs, actions, tasks = 18, 6, 8
    body = PlainMLP(
        obs, (256, 256, 256), 2 * actions, num_heads=tasks, key=jax.random.key(0)
    )
    counts = parameter_counts(RewiredMLP(body, num_modes=3, num_slots=tasks))
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
