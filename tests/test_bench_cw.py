"""The candidate Dropout masks that `bench.cw` times beside the library's (its speeds are
measurements, not tests): each must compute what it claims, or its timing means nothing."""

import jax
import jax.numpy as jnp
import numpy as np

from bench.cw import _bernoulli_16bit, _policy_out_one_draw
from rewire_eqx import sac
from rewire_eqx.networks import PlainMLP


def test_masks_of_a_pass_from_one_draw_are_the_network_with_those_masks():
    """Without a key, the library's pass; with one, a NumPy restatement of the network
    (LayerNorm + tanh after the first layer, LeakyReLU after the others) with the
    inverted-Dropout masks of that one draw."""
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
    np.testing.assert_array_equal(
        _policy_out_one_draw(net, obs, 1), sac._policy_out(net, obs, 1)
    )
    key = jax.random.key(2)
    keep = np.asarray(jax.random.bernoulli(key, 0.75, (7, 10)))
    assert 0 < keep.mean() < 1
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
    np.testing.assert_allclose(_policy_out_one_draw(net, obs, 1, key), expected, atol=1e-5)
    assert not np.allclose(expected, _policy_out_one_draw(net, obs, 1))


def test_bernoulli_from_16_bit_draws_keeps_its_rounded_probability():
    keep = _bernoulli_16bit(jax.random.key(0), 0.9, (400, 1000))
    assert keep.shape == (400, 1000) and keep.dtype == jnp.bool_
    # 400k draws: the standard error of the mean is 4.7e-4
    assert abs(float(keep.mean()) - 58982 / 65536) < 2.5e-3
