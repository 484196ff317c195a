"""The run folder: its layout, atomic writes, checkpoints and what `--resume` reads.

`runs/<spec name>/<timestamp>/` (or a fixed folder, e.g. a comparison's job):

* `spec.json`: the spec, as run;
* `progress.json`: the record so far (R, curves, facts), rewritten after every task;
* `checkpoints/after_task_<t>.eqx`: what passes to the next task (`Carried`: the
  method's state and the carried critics);
* `checkpoints/in_task_<t>.eqx`: a mid-task checkpoint (`InTask`: the learner's whole
  state and where the task stands), removed once the task's own checkpoint exists;
  beside it, `in_task_<t>.host`: the state of host-stepped envs (Meta-World) taken with
  it;
* `metrics.json`: the final metrics; tensorboard event files.

Every file is written atomically (a synced temporary file, then a rename), so a write cut
off halfway leaves the previous version intact.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from rewire_eqx import sac
from rewire_eqx.specs import RunSpec, spec_from_dict

__all__ = [
    "FORMAT",
    "Carried",
    "InTask",
    "OutputDirError",
    "ResumeError",
    "check_output_dir",
    "host_state_path",
    "in_task_path",
    "keys_as_data",
    "keys_from_data",
    "load_in_task",
    "load_resume",
    "new_run_dir",
    "new_seed_dirs",
    "remove_in_task",
    "save_in_task",
    "save_state",
    "write_atomic",
    "write_json",
]

FORMAT = "rewire_eqx run folder v2"


class ResumeError(Exception):
    """The folder given to `--resume` cannot be resumed."""


class OutputDirError(Exception):
    """A folder that should receive run folders cannot be created or written."""


def check_output_dir(path: str | Path, *, field: str = "--output-dir") -> None:
    """Fail early, in one line, if `path` cannot hold run folders: it (or an ancestor
    it would be created under) is a file, or no folder can be created in the nearest
    existing one (tried with a temporary folder, removed at once: permissions alone do
    not tell, e.g. under /proc). Nothing is left behind."""
    target = Path(path)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == target else f"is under the file {str(existing)!r}"
        raise OutputDirError(f"{field} {str(path)!r} {what}, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".rewire_eqx-check-", dir=existing))
    except OSError as error:
        raise OutputDirError(
            f"{field} {str(path)!r}: cannot create a folder in {str(existing)!r} "
            f"({error.strerror or error})"
        ) from None


# ----------------------------------------------------------------------- files


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a synced temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_state(path: Path, state) -> None:
    """Serialise `state` to `path` atomically: a temporary file, synced, then renamed
    (a write cut off halfway leaves only the `.tmp` file, which is never read)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        eqx.tree_serialise_leaves(f, state)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class InTask(eqx.Module):
    """A mid-task checkpoint: the learner's whole state and where the task stands."""

    train: sac.TrainState
    next_chunk: np.ndarray  # int64 scalar
    curve: np.ndarray  # float64 (chunks, 2): [env step, evaluation return] so far
    seconds: np.ndarray  # float64 scalar: training time of the task so far
    trace: np.ndarray  # float64 (chunks, segments, len(sac.TRACE_FIELDS)) so far
    host_digest: np.ndarray  # uint8 (32,): SHA-256 of the host envs' state file; 0s: none


def _is_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key
    )


def keys_as_data(tree):
    """Typed PRNG keys replaced by their raw key data (which serialises)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def keys_from_data(stored, template):
    """Inverse of `keys_as_data`, with the key types of `template`."""
    return jax.tree.map(
        lambda x, t: (
            jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if _is_key(t) else x
        ),
        stored,
        template,
    )


def after_task_path(run_dir: Path, task: int) -> Path:
    return run_dir / "checkpoints" / f"after_task_{task}.eqx"


def in_task_path(run_dir: Path, task: int) -> Path:
    return run_dir / "checkpoints" / f"in_task_{task}.eqx"


def host_state_path(in_task: Path) -> Path:
    """Beside a mid-task checkpoint: the host envs' state taken with it (Meta-World's
    simulators, `AbstractVecEnv.host_snapshot`), whose length varies."""
    return in_task.with_suffix(".host")


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def save_in_task(path: Path, in_task: InTask, host: bytes | None) -> None:
    """Write a mid-task checkpoint and, first, the host envs' state taken with it; the
    checkpoint holds the state's digest, so a state file left by another checkpoint is
    never read with it."""
    digest = np.zeros((32,), np.uint8)
    if host is not None:
        write_atomic(host_state_path(path), host)
        digest = np.frombuffer(_digest(host), np.uint8).copy()
    save_state(path, eqx.tree_at(lambda c: c.host_digest, in_task, digest))


def remove_in_task(path: Path) -> None:
    """Remove a mid-task checkpoint and its host envs' state, where they exist."""
    path.unlink(missing_ok=True)
    host_state_path(path).unlink(missing_ok=True)


def load_in_task(path: Path, template: sac.TrainState, chunks: int, segments: int):
    """The mid-task checkpoint at `path` and the host envs' state saved with it (None
    for JAX envs), or None (with a warning) if either cannot be read."""
    blank = InTask(
        train=keys_as_data(template),
        next_chunk=np.zeros((), np.int64),
        curve=np.zeros((chunks, 2), np.float64),
        seconds=np.zeros((), np.float64),
        trace=np.zeros((chunks, segments, len(sac.TRACE_FIELDS)), np.float64),
        host_digest=np.zeros((32,), np.uint8),
    )
    try:
        loaded = eqx.tree_deserialise_leaves(path, blank)
        host = None
        if loaded.host_digest.any():
            host = host_state_path(path).read_bytes()
            if _digest(host) != loaded.host_digest.tobytes():
                raise ValueError("the host envs' state file does not match")
        loaded = eqx.tree_at(
            lambda c: c.train, loaded, keys_from_data(loaded.train, template)
        )
        return loaded, host
    except Exception as error:  # a damaged file: start the task again
        print(
            f"warning: ignoring the unreadable checkpoint {str(path)!r} "
            f"({type(error).__name__}); the task restarts from its beginning",
            file=sys.stderr,
        )
        return None


class Carried(eqx.Module):
    """What passes from one task to the next: the method's state and the critics
    (None when the method starts every task with new ones)."""

    method: eqx.Module
    critic: eqx.Module | None


def new_run_dir(spec: RunSpec) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = Path(spec.output_dir) / spec.name / stamp
    path.mkdir(parents=True, exist_ok=False)
    return path


def new_seed_dirs(spec: RunSpec, seeds: list[int]) -> list[Path]:
    """Run folders for several seeds started together: one time stamp, a seed each
    (`<output_dir>/<name>/<stamp>-seed<k>`; created by the run)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return [Path(spec.output_dir) / spec.name / f"{stamp}-seed{seed}" for seed in seeds]


def load_resume(run_dir: str | Path) -> tuple[RunSpec, dict]:
    """The spec and progress record of a run folder, or a `ResumeError` saying why not."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResumeError(f"--resume {str(run_dir)!r}: no such folder")
    spec_path, progress_path = run_dir / "spec.json", run_dir / "progress.json"
    if not spec_path.is_file() or not progress_path.is_file():
        raise ResumeError(
            f"--resume {str(run_dir)!r}: not a rewire_eqx run folder (needs spec.json and "
            "progress.json)"
        )
    try:
        spec_data = json.loads(spec_path.read_text())
        progress = json.loads(progress_path.read_text())
        if progress.get("format") != FORMAT:
            raise ValueError(f"format {progress.get('format')!r} is not {FORMAT!r}")
        spec = spec_from_dict(RunSpec, spec_data)
    except (ValueError, TypeError, KeyError) as error:
        raise ResumeError(
            f"--resume {str(run_dir)!r}: unreadable run folder ({error})"
        ) from None
    last = progress["last_task"]
    if last >= 0 and not after_task_path(run_dir, last).is_file():
        raise ResumeError(
            f"--resume {str(run_dir)!r}: checkpoint after task {last} is missing"
        )
    return spec, progress
