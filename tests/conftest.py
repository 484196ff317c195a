"""Test configuration: hypothesis profiles sized for CI, strict dtype promotion where
the dependencies allow it (optax's Adam does not, so the learner's tests run without),
and one persistent JAX compilation cache for the whole session, fresh for every run of
the suite: the tests that start worker processes or subprocesses (compare --jobs,
SIGKILL and resume, forced host devices) compile the same programs again in every
process, and read them from it instead (about a third of those tests' time)."""

import atexit
import os
import shutil
import tempfile

import jax
import pytest
from hypothesis import HealthCheck, settings

_CACHE = tempfile.mkdtemp(prefix="rewire_eqx_test_jax_cache_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
_CACHE_SETTINGS = {
    "jax_compilation_cache_dir": _CACHE,
    "jax_persistent_cache_min_compile_time_secs": 0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}
for _name, _value in _CACHE_SETTINGS.items():
    jax.config.update(_name, _value)  # this process
    os.environ[_name.upper()] = str(_value)  # the processes the tests start


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
