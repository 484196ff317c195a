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


BENCHMARKS = (
    "run",
    "profile",
    "seeds",
    "peer",
    "cw",
    "cw_program",
    "shapes",
    "ablate",
    "jobs",
)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (never run as tests): `nox -s bench` runs `bench.run`; `nox -s bench --
    NAME ARGS` runs `bench.NAME` (one of BENCHMARKS) with ARGS."""
    session.install("-e", ".[dev]")
    args = list(session.posargs)
    name = args.pop(0) if args and args[0] in BENCHMARKS else "run"
    session.run("python", "-m", f"bench.{name}", *args)
