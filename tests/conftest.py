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


_KILLING_DRIVER = """
import os, signal, sys
from rewire_eqx import cli, run_folder

real = run_folder.save_state

def save_then_die(path, state):
    real(path, state)
    if path.name.startswith("in_task_"):  # killed right after a mid-task checkpoint
        os.kill(os.getpid(), signal.SIGKILL)

run_folder.save_state = save_then_die
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.fixture
def run_killed_mid_task(tmp_path):
    """`run(spec_file, out) -> run folder`: `python -m rewire_eqx run spec_file` in a
    process that SIGKILLs itself right after its first mid-task checkpoint."""
    import subprocess
    import sys
    from pathlib import Path

    driver = tmp_path / "killing_driver.py"
    driver.write_text(_KILLING_DRIVER)

    def run(spec_file: Path, out: Path) -> Path:
        done = subprocess.run(
            [sys.executable, str(driver), "run", str(spec_file), "--output-dir", str(out)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == -9, done.stderr[-2000:]  # SIGKILL
        (name,) = out.iterdir()
        (run_dir,) = name.iterdir()
        return run_dir

    return run
