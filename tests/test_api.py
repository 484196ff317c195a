"""The public API at the top of the package: every name resolves, is documented and is
what its name says; importing the package does not import JAX."""

import inspect
import subprocess
import sys

import rewire_eqx as rx


def test_every_public_name_resolves_and_has_a_docstring():
    for name in rx.__all__:
        value = getattr(rx, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    assert inspect.isfunction(rx.compare) and inspect.isfunction(rx.run)
    assert set(rx.__all__) <= set(dir(rx))


def test_help_lists_the_api():
    text = subprocess.run(
        [sys.executable, "-c", "import rewire_eqx as rx; help(rx)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("RunSpec", "ScenarioSpec", "load_run", "evaluate", "compare", "Run"):
        assert name in text, name


def test_importing_the_package_leaves_jax_unimported():
    """`python -m rewire_eqx.worker` confines itself to its cores before JAX starts."""
    code = "import sys, rewire_eqx; print('jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False"
