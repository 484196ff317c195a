"""Which code trained a run: the package version and the git commit of its source.

Every run records `code_version()` in its `progress.json` and `metrics.json` (key
`code`), so a comparison never mixes runs of different learner code without saying so
(`compare --allow-mixed`). The commit is the last commit of the checkout the package is
imported from that changed `rewire_eqx/` (`git log -1 -- rewire_eqx/`): commits that
touch only docs, tests, specs or reports do not change it, so a comparison spread over
sittings keeps its jobs while the learner code stays the same. When files under
`rewire_eqx/` differ from that commit, it is
followed by `+dirty.<first 10 hex digits of the SHA-1 of that diff>`, so two different
uncommitted states are told apart. Outside a git checkout it is `"unknown"`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import subprocess
from pathlib import Path

__all__ = ["code_version", "describe_code", "same_code"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(_PACKAGE_DIR), *args],
            capture_output=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode("utf-8", "replace")


@functools.cache
def code_version() -> dict[str, str]:
    """`{"package": <installed version>, "commit": <commit[+dirty.<hash>]> | "unknown"}`
    of the code this process runs (computed once per process)."""
    try:
        package = importlib.metadata.version("rewire_eqx")
    except importlib.metadata.PackageNotFoundError:
        package = "unknown"
    last = _git("log", "-1", "--format=%H", "--", str(_PACKAGE_DIR))
    if not last or not last.strip():
        return {"package": package, "commit": "unknown"}
    commit = last.strip()
    diff = _git("diff", "HEAD", "--", str(_PACKAGE_DIR))
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", str(_PACKAGE_DIR))
    if diff or untracked:
        digest = hashlib.sha1(((diff or "") + (untracked or "")).encode()).hexdigest()
        commit += f"+dirty.{digest[:10]}"
    return {"package": package, "commit": commit}


def same_code(a: dict | None, b: dict | None) -> bool:
    """Whether two `code` records name the same learner code: the same commit, or,
    outside a git checkout (commit "unknown"), the same package version. A missing
    record (a run older than this field) never matches."""
    if not a or not b:
        return False
    if a.get("commit") == "unknown" or b.get("commit") == "unknown":
        return a == b
    return a.get("commit") == b.get("commit")


def describe_code(code: dict | None) -> str:
    """One short label of a `code` record, for reports and errors."""
    if not code:
        return "unrecorded (a run older than the `code` field)"
    return f"rewire_eqx {code.get('package', '?')} at {code.get('commit', '?')}"
