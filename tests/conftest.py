"""Test configuration: hypothesis profiles sized for CI, strict dtype promotion where
the dependencies allow it (optax's Adam does not, so the learner's tests run without)."""

import os

import jax
import pytest
from hypothesis import HealthCheck, settings


@pytest.fixture
def strict_promotion():
    with jax.numpy_dtype_promotion("strict"):
        yield


settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile(
    "thorough",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
