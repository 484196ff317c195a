"""nox sessions: `nox -s tests`, `nox -s lint`, `nox -s bench`."""

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, with jaxtyping + beartype checking on the package."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", "rewire_eqx", "tests", "specs", "bench", "noxfile.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput benchmarks (never run as tests); prints a table."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "bench.run", *session.posargs)
