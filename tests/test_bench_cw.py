"""The candidate Dropout masks that `bench.cw` times beside the library's (its speeds are
measurements, not tests): a candidate must compute what it claims, or its timing means
nothing."""

import jax
import jax.numpy as jnp

from bench.cw import _bernoulli_16bit


def test_bernoulli_from_16_bit_draws_keeps_its_rounded_probability():
    keep = _bernoulli_16bit(jax.random.key(0), 0.9, (400, 1000))
    assert keep.shape == (400, 1000) and keep.dtype == jnp.bool_
    # 400k draws: the standard error of the mean is 4.7e-4
    assert abs(float(keep.mean()) - 58982 / 65536) < 2.5e-3
