"""The continual runner: train a method on every task of a scenario, evaluate every task
seen after each one, and keep a run folder a researcher can trust.

Run folder `runs/<spec name>/<timestamp>/`:

* `spec.json`: the spec, as run;
* `progress.json` + `checkpoints/after_task_<t>.eqx`: written atomically after every
  task (the method's state with `eqx.tree_serialise_leaves`, and the record so far);
* `metrics.json`: the final metrics (schema in the README);
* tensorboard event files.

Every task's randomness derives from `fold_in(key(seed), task)`; each task starts SAC
with fresh optimisers, temperature and buffer, and with the critics carried from the
previous task (stored in the checkpoint beside the method's state), so `--resume` from
the checkpoint after task t gives the same results as an uninterrupted run of the same
seed.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from rewire_eqx import metrics, sac
from rewire_eqx.envs.base import AbstractVecEnv, JaxVecEnv
from rewire_eqx.envs.domains import make_env
from rewire_eqx.methods import make_method
from rewire_eqx.methods.base import TaskEnd
from rewire_eqx.specs import RunSpec, spec_from_dict, spec_to_dict

__all__ = ["OutputDirError", "ResumeError", "TrainingDiverged", "check_output_dir", "run"]

_FORMAT = "rewire_eqx run folder v2"


class ResumeError(Exception):
    """The folder given to `--resume` cannot be resumed."""


class OutputDirError(Exception):
    """A folder that should receive run folders cannot be created or written."""


def check_output_dir(path: str | Path, *, field: str = "--output-dir") -> None:
    """Fail early, in one line, if `path` cannot hold run folders: it (or an ancestor
    it would be created under) is a file, or the nearest existing folder is not
    writable. Nothing is created here."""
    target = Path(path)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == target else f"is under the file {str(existing)!r}"
        raise OutputDirError(f"{field} {str(path)!r} {what}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputDirError(
            f"{field} {str(path)!r}: the folder {str(existing)!r} is not writable"
        )


class TrainingDiverged(Exception):
    """A non-finite loss appeared; the run folder keeps the last good checkpoint."""


# ----------------------------------------------------------------------- files


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, obj) -> None:
    _write_atomic(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _save_state(path: Path, state) -> None:
    """Serialise `state` to `path` atomically: a temporary file, synced, then renamed
    (a write cut off halfway leaves only the `.tmp` file, which is never read)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        eqx.tree_serialise_leaves(f, state)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _InTask(eqx.Module):
    """A mid-task checkpoint: the learner's whole state and where the task stands."""

    train: sac.TrainState
    next_chunk: np.ndarray  # int64 scalar
    curve: np.ndarray  # float64 (chunks, 2): [env step, evaluation return] so far
    seconds: np.ndarray  # float64 scalar: training time of the task so far


def _is_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key
    )


def _keys_as_data(tree):
    """Typed PRNG keys replaced by their raw key data (which serialises)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _keys_from_data(stored, template):
    """Inverse of `_keys_as_data`, with the key types of `template`."""
    return jax.tree.map(
        lambda x, t: (
            jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if _is_key(t) else x
        ),
        stored,
        template,
    )


def _in_task_path(run_dir: Path, task: int) -> Path:
    return run_dir / "checkpoints" / f"in_task_{task}.eqx"


def _load_in_task(path: Path, template: sac.TrainState, chunks: int):
    """The mid-task checkpoint at `path`, or None (with a warning) if it cannot be read."""
    blank = _InTask(
        train=_keys_as_data(template),
        next_chunk=np.zeros((), np.int64),
        curve=np.zeros((chunks, 2), np.float64),
        seconds=np.zeros((), np.float64),
    )
    try:
        loaded = eqx.tree_deserialise_leaves(path, blank)
        return eqx.tree_at(
            lambda c: c.train, loaded, _keys_from_data(loaded.train, template)
        )
    except Exception as error:  # a damaged file: start the task again
        print(
            f"warning: ignoring the unreadable checkpoint {str(path)!r} "
            f"({type(error).__name__}); the task restarts from its beginning",
            file=sys.stderr,
        )
        return None


class _Carried(eqx.Module):
    """What passes from one task to the next: the method's state and the critics
    (None when the method starts every task with new ones)."""

    method: eqx.Module
    critic: eqx.Module | None


def new_run_dir(spec: RunSpec) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = Path(spec.output_dir) / spec.name / stamp
    path.mkdir(parents=True, exist_ok=False)
    return path


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
        if progress.get("format") != _FORMAT:
            raise ValueError(f"format {progress.get('format')!r} is not {_FORMAT!r}")
        spec = spec_from_dict(RunSpec, spec_data)
    except (ValueError, TypeError, KeyError) as error:
        raise ResumeError(
            f"--resume {str(run_dir)!r}: unreadable run folder ({error})"
        ) from None
    last = progress["last_task"]
    if last >= 0 and not (run_dir / "checkpoints" / f"after_task_{last}.eqx").is_file():
        raise ResumeError(
            f"--resume {str(run_dir)!r}: checkpoint after task {last} is missing"
        )
    return spec, progress


# ------------------------------------------------------------------- progress


class _Progress:
    """A rich progress bar over the run's environment steps (quiet when not a TTY)."""

    def __init__(self, total: int, enabled: bool):
        self.enabled = enabled
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} env steps"),
                TimeRemainingColumn(),
            )
            self.id = self.bar.add_task("starting", total=total)
            self.bar.start()

    def update(self, completed: int, description: str) -> None:
        if self.enabled:
            self.bar.update(self.id, completed=completed, description=description)
        else:
            print(description, flush=True)

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()


# ----------------------------------------------------------------------- run


def _vec(env, num_envs: int, spec: RunSpec) -> JaxVecEnv:
    return JaxVecEnv(
        env,
        num_envs=num_envs,
        episode_length=spec.sac.episode_length,
        fresh_resets=spec.scenario.domain == "pendulum",
    )


def _evaluator(spec: RunSpec, eval_env: AbstractVecEnv, head: int, key):
    rollouts = spec.scenario.eval_rollouts

    def evaluate(policy) -> float:
        keys = jax.random.split(key, rollouts)
        return float(sac.evaluate_rollouts(eval_env, policy, head, keys))

    return evaluate


def run(
    spec: RunSpec | None,
    *,
    resume: str | Path | None = None,
    progress: bool | None = None,
    run_dir: str | Path | None = None,
) -> Path:
    """Train and evaluate `spec`'s method on its scenario; returns the run folder.

    With `resume`, continue the run in that folder after its last finished task (the
    spec is read from the folder; pass `spec=None`). With `run_dir`, a new run is
    written to that folder (it must not hold a run yet) instead of a timestamped one.
    """
    if resume is not None:
        spec, record = load_resume(resume)
        run_dir = Path(resume)
    elif spec is None:
        raise ValueError("run needs a spec or a run folder to resume")
    else:
        record = None
        if run_dir is not None:
            run_dir = Path(run_dir)
            if (run_dir / "spec.json").exists():
                raise ValueError(f"{str(run_dir)!r} already holds a run")
            run_dir.mkdir(parents=True, exist_ok=True)
    scenario = spec.scenario
    task_envs = [
        make_env(scenario.domain, t, backend=scenario.backend) for t in scenario.tasks
    ]
    obs_size, action_size = task_envs[0].obs_size, task_envs[0].action_size
    policy_spec = spec.policy_spec(obs_size, action_size)
    method = make_method(spec, policy_spec)
    sac_spec = spec.sac_for_run
    learners = [
        sac.Learner(sac_spec, _vec(env, sac_spec.num_envs, spec)) for env in task_envs
    ]
    eval_envs = [_vec(env, scenario.eval_envs, spec) for env in task_envs]

    rounds_total = max(1, scenario.task_steps // sac_spec.num_envs)
    warm_rounds = min(sac.warmup_rounds(learners[0]), rounds_total - 1)
    chunks = max(1, min(scenario.evals_per_task, rounds_total - warm_rounds))
    if spec.chunk_steps:
        chunks = max(
            1, (rounds_total - warm_rounds) // max(1, spec.chunk_steps // sac_spec.num_envs)
        )
    chunk_rounds = max(1, (rounds_total - warm_rounds) // chunks)
    steps_per_task = (warm_rounds + chunks * chunk_rounds) * sac_spec.num_envs

    root = jax.random.key(spec.seed)
    state = method.init(key=jax.random.fold_in(root, 10_000))
    critic_template = (
        sac.make_critic(
            sac_spec, learners[0].env.obs_size, action_size, key=jax.random.key(0)
        )
        if method.carries_critic
        else None
    )
    carried = _Carried(method=state, critic=None)
    T = scenario.num_tasks
    if record is None:
        if run_dir is None:
            run_dir = new_run_dir(spec)
        _write_json(run_dir / "spec.json", spec_to_dict(spec))
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        record = {
            "format": _FORMAT,
            "last_task": -1,
            "tasks": list(scenario.tasks),
            "R": [[None] * T for _ in range(T)],
            "curves": [[] for _ in range(T)],
            "reward_before": [None] * T,
            "task_facts": [{} for _ in range(T)],
            "env_steps": 0,
            "train_seconds": 0.0,
            "policy_params_max": 0,
            "policy_params_unit": method.unit_params(),
            "steps_per_task": steps_per_task,
        }
        _write_json(run_dir / "progress.json", record)
    else:
        last = record["last_task"]
        for stale in range(last + 1):  # finished tasks' mid-task checkpoints
            _in_task_path(run_dir, stale).unlink(missing_ok=True)
        if last >= 0:
            carried = eqx.tree_deserialise_leaves(
                run_dir / "checkpoints" / f"after_task_{last}.eqx",
                _Carried(method=state, critic=critic_template),
            )
    assert run_dir is not None

    from tensorboardX import SummaryWriter

    writer = SummaryWriter(logdir=str(run_dir))
    show = progress if progress is not None else os.isatty(2)
    bar = _Progress(T * steps_per_task, enabled=show)
    traces_before = sac.trace_counts().get("train_chunk", 0)
    try:
        for task in range(record["last_task"] + 1, T):
            carried, record = _run_task(
                spec,
                method,
                carried,
                record,
                task,
                learners,
                eval_envs,
                root=root,
                warm_rounds=warm_rounds,
                chunks=chunks,
                chunk_rounds=chunk_rounds,
                writer=writer,
                bar=bar,
                run_dir=run_dir,
            )
    finally:
        bar.close()
        writer.close()
    summary = metrics.summarise(record, scenario)
    seconds = record["train_seconds"]
    out = {
        "spec": spec.name,
        "method": spec.method.name,
        "domain": scenario.domain,
        "tasks": list(scenario.tasks),
        "seed": spec.seed,
        "R": record["R"],
        **summary,
        "policy_params_max": record["policy_params_max"],
        "policy_params_unit": record["policy_params_unit"],
        "curves": record["curves"],
        "reward_before": record["reward_before"],
        "task_facts": record["task_facts"],
        "steps_per_task": record["steps_per_task"],
        "env_steps": record["env_steps"],
        "train_seconds": seconds,
        "env_steps_per_s": record["env_steps"] / seconds if seconds else None,
        "train_chunk_compilations": sac.trace_counts().get("train_chunk", 0)
        - traces_before,
    }
    _write_json(run_dir / "metrics.json", out)
    return run_dir


def _mid_task_chunk(chunks: int, share: float) -> int | None:
    """Index of the chunk before which `mid_task` runs: the last `share` of the chunks
    (at least one when there are two or more) follow it; `chunks` means after the last."""
    if share <= 0:
        return None
    after = max(1, round(chunks * share)) if chunks > 1 else 0
    return chunks - min(after, chunks - 1)


def _train_one_chunk(
    spec,
    method,
    task,
    chunk,
    learner,
    sac_state,
    regulariser,
    *,
    evaluate,
    last_chunk,
    mid_chunk,
    chunk_rounds,
    writer,
    bar,
    base_steps,
):
    """One chunk of a task: the method's mid-task hook where due, one compiled training
    call, the evaluation of the training task, and the logs. Returns the new train
    state and the curve point `[env step, reward]` (None once the task's chunks are
    done)."""
    scenario = spec.scenario
    name = scenario.tasks[task]
    if chunk == mid_chunk:
        sac_state = dataclasses.replace(
            sac_state, actor=method.mid_task(sac_state.actor, task)
        )
    if chunk == last_chunk:
        return sac_state, None
    sac_state, chunk_metrics = sac.train_chunk(
        learner, sac_state, regulariser, chunk_rounds
    )
    values = jax.device_get(chunk_metrics)
    steps = int(values.env_steps)
    if not all(math.isfinite(float(v)) for v in (values.critic_loss, values.actor_loss)):
        raise TrainingDiverged(
            f"non-finite loss in task {task} ({name}) at env step {steps} of the task; "
            f"the run folder keeps the checkpoint after task {task - 1}"
        )
    reward = evaluate(sac_state.actor.with_mode(0))
    global_step = base_steps + steps
    episodes = float(values.episodes)
    writer.add_scalar(f"eval/task{task}_{name}", reward, global_step)
    if episodes:
        writer.add_scalar(
            "train/episode_return", float(values.episode_return_sum) / episodes, global_step
        )
    for field in (
        "critic_loss",
        "actor_loss",
        "temperature",
        "entropy",
        "mode_divergence",
        "regulariser",
        "q_mean",
    ):
        writer.add_scalar(f"train/{field}", float(getattr(values, field)), global_step)
    bar.update(
        global_step, f"task {task + 1}/{scenario.num_tasks} {name}: reward {reward:.1f}"
    )
    return sac_state, [steps, reward]


def _run_task(
    spec,
    method,
    carried,
    record,
    task,
    learners,
    eval_envs,
    *,
    root,
    warm_rounds,
    chunks,
    chunk_rounds,
    writer,
    bar,
    run_dir,
):
    state = carried.method
    head = method.policy.head_of_task(task)
    task_key = jax.random.fold_in(root, task)
    actor_key, sac_key, eval_key, end_key = jax.random.split(task_key, 4)
    learner = sac.Learner(learners[task].spec, method.wrap_env(learners[task].env, state))
    evaluate = _evaluator(spec, method.wrap_env(eval_envs[task], state), head, eval_key)

    actor = method.training_actor(state, task, key=actor_key)
    reward_before = evaluate(actor.with_mode(0)) if task > 0 else None
    regulariser = method.regulariser(state, task)
    sac_state = sac.begin_task(
        learner, actor, head=head, key=sac_key, critic=carried.critic
    )
    start = time.perf_counter()
    in_task = _in_task_path(run_dir, task)
    restored = _load_in_task(in_task, sac_state, chunks) if in_task.is_file() else None
    if restored is None:
        sac_state = sac.warmup(learner, sac_state, warm_rounds)
        first_chunk, curve, seconds_before = 0, [], 0.0
    else:  # continue exactly where the mid-task checkpoint left the task
        sac_state = restored.train
        first_chunk = int(restored.next_chunk)
        curve = [[int(s), float(r)] for s, r in restored.curve[:first_chunk]]
        seconds_before = float(restored.seconds)
    base_steps = record["env_steps"]
    saved_steps = int(sac_state.env_steps)
    every = spec.checkpoint_every_steps
    mid_chunk = _mid_task_chunk(chunks, method.mid_task_share(task))

    def save_in_task(train_state, next_chunk):
        table = np.zeros((chunks, 2), np.float64)
        if next_chunk:
            table[:next_chunk] = curve[:next_chunk]
        elapsed = seconds_before + time.perf_counter() - start
        _save_state(
            in_task,
            _InTask(
                train=_keys_as_data(train_state),
                next_chunk=np.asarray(next_chunk, np.int64),
                curve=table,
                seconds=np.asarray(elapsed, np.float64),
            ),
        )

    for chunk in range(first_chunk, chunks + 1):
        at_chunk_start = sac_state  # what a Ctrl-C during this chunk saves
        try:
            sac_state, curve_point = _train_one_chunk(
                spec,
                method,
                task,
                chunk,
                learner,
                sac_state,
                regulariser,
                evaluate=evaluate,
                last_chunk=chunks,
                mid_chunk=mid_chunk,
                chunk_rounds=chunk_rounds,
                writer=writer,
                bar=bar,
                base_steps=base_steps,
            )
        except KeyboardInterrupt:
            save_in_task(at_chunk_start, chunk)
            raise
        if curve_point is None:
            break
        curve.append(curve_point)
        steps = curve_point[0]
        if every and steps - saved_steps >= every and chunk + 1 < chunks:
            save_in_task(sac_state, chunk + 1)
            saved_steps = steps
    offline = method.offline_updates(task)
    if offline:  # e.g. PackNet: prune, then retrain from the buffer, no env steps
        sac_state = dataclasses.replace(
            sac_state, actor=method.mid_task(sac_state.actor, task)
        )
        blocks = max(1, offline // learner.spec.policy_update_delay)
        sac_state = sac.train_updates(learner, sac_state, regulariser, blocks)
    train_seconds = seconds_before + time.perf_counter() - start
    observations = sac_state.buffer.sample(jax.random.fold_in(end_key, 10_000), 1024).obs
    state, facts = method.end_task(
        state,
        sac_state.actor,
        task,
        TaskEnd(
            evaluate=evaluate,
            reward_before=reward_before,
            observations=observations,
            critic=sac_state.critic,
        ),
    )
    R = record["R"]
    for seen in range(task + 1):
        seen_eval = _evaluator(
            spec,
            method.wrap_env(eval_envs[seen], state),
            method.policy.head_of_task(seen),
            jax.random.fold_in(end_key, seen),
        )
        R[task][seen] = seen_eval(method.policy_for_task(state, seen))
        writer.add_scalar(f"R/task{seen}", R[task][seen], task)
    record = dict(record)
    record["R"] = R
    record["curves"][task] = curve
    record["reward_before"][task] = reward_before
    record["task_facts"][task] = facts
    record["env_steps"] = base_steps + int(sac_state.env_steps)
    record["train_seconds"] += train_seconds
    record["policy_params_max"] = max(
        record["policy_params_max"], method.policy_params(state, task + 1)
    )
    record["last_task"] = task
    carried = _Carried(
        method=state, critic=sac_state.critic if method.carries_critic else None
    )
    _save_state(run_dir / "checkpoints" / f"after_task_{task}.eqx", carried)
    _write_json(run_dir / "progress.json", record)
    in_task.unlink(missing_ok=True)  # the task's own checkpoint supersedes it
    return carried, record
