"""The continual runner: train a method on every task of a scenario, evaluate every task
seen after each one, and keep a run folder a researcher can trust (`run_folder`: layout,
atomic writes, checkpoints, resume).

Each task runs as five phases (`_run_task`): begin (actor, learner, regulariser; the
learner state from a mid-task checkpoint if one exists), train chunks (checkpointing as
it goes), end (the method consolidates), evaluate every task seen, record (progress and
the task's checkpoint). `run_seeds` runs several seeds of one spec through the same
phases in step, their training chunks as one program with a seed axis
(`rewire_eqx.seeds`); `run` is `run_seeds` with one seed.

Every task's randomness derives from `fold_in(key(seed), task)`; each task starts SAC
with fresh optimisers, temperature and buffer, and with the critics carried from the
previous task (stored in the checkpoint beside the method's state), so `--resume` from
any checkpoint gives the same results as an uninterrupted run of the same seed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from rewire_eqx import metrics, run_folder, sac
from rewire_eqx import seeds as seed_batch
from rewire_eqx.envs.base import AbstractVecEnv
from rewire_eqx.envs.domains import make_vec_env
from rewire_eqx.methods import make_method
from rewire_eqx.methods.base import TaskEnd
from rewire_eqx.provenance import code_version, same_code
from rewire_eqx.run_folder import (
    OutputDirError,
    ResumeError,
    check_output_dir,
    load_resume,
    new_seed_dirs,
)
from rewire_eqx.specs import RunSpec, spec_to_dict

__all__ = [
    "OutputDirError",
    "ResumeError",
    "TrainingDiverged",
    "check_output_dir",
    "load_resume",
    "new_seed_dirs",
    "run",
    "run_seeds",
]


class TrainingDiverged(Exception):
    """A non-finite loss appeared; the run folder keeps the last good checkpoint."""


# ------------------------------------------------------------------- progress


class _Progress:
    """A rich progress bar per seed over its environment steps (printed lines when not
    a TTY)."""

    def __init__(self, totals: list[int], labels: list[str], enabled: bool):
        self.enabled, self.labels = enabled, labels
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} env steps"),
                TimeRemainingColumn(),
            )
            self.ids = [
                self.bar.add_task(f"{label}starting", total=total)
                for total, label in zip(totals, labels)
            ]
            self.bar.start()

    def update(self, row: int, completed: int, description: str) -> None:
        description = self.labels[row] + description
        if self.enabled:
            self.bar.update(self.ids[row], completed=completed, description=description)
        else:
            print(description, flush=True)

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()


# ----------------------------------------------------------------------- run


def task_env(spec: RunSpec, task: str, num_envs: int) -> AbstractVecEnv:
    """`num_envs` environments of one task of `spec`'s scenario."""
    scenario = spec.scenario
    return make_vec_env(
        scenario.domain,
        task,
        num_envs=num_envs,
        episode_length=spec.sac.episode_length,
        backend=scenario.backend,
    )


def environments(spec: RunSpec) -> tuple[list[sac.Learner], list[AbstractVecEnv]]:
    """Every task's training learner and evaluation environments."""
    sac_spec, tasks = spec.sac_for_run, spec.scenario.tasks
    learners = [
        sac.Learner(sac_spec, task_env(spec, task, sac_spec.num_envs)) for task in tasks
    ]
    eval_envs = [task_env(spec, task, spec.scenario.eval_envs) for task in tasks]
    return learners, eval_envs


def task_keys(root, task: int) -> tuple:
    """The keys of task `task` of a run with root key `root`: actor initialisation,
    SAC, evaluations during training, and the end of the task (`R`'s row `task` is
    evaluated with `fold_in(end_key, seen)`)."""
    return tuple(jax.random.split(jax.random.fold_in(root, task), 4))


def evaluator(spec: RunSpec, eval_env: AbstractVecEnv, head: int, key):
    """Mean score (return or success rate, `ScenarioSpec.score`) of the deterministic
    policy over `eval_envs x eval_rollouts` episodes."""
    rollouts, score = spec.scenario.eval_rollouts, spec.scenario.score

    def evaluate(policy) -> float:
        keys = jax.random.split(key, rollouts)
        return float(sac.evaluate_rollouts(eval_env, policy, head, keys, score))

    return evaluate


def load_after_task(
    spec: RunSpec, method, env: AbstractVecEnv, run_dir: Path, task: int, state
) -> run_folder.Carried:
    """What a run folder saved at the end of `task`: the method's state and, for a
    method that carries it across tasks, the SAC critic. `state` is any state of
    `method` (it gives the shapes to read into)."""
    critic = (
        sac.make_critic(
            spec.sac_for_run, env.obs_size, env.action_size, key=jax.random.key(0)
        )
        if method.carries_critic
        else None
    )
    return eqx.tree_deserialise_leaves(
        run_folder.after_task_path(run_dir, task),
        run_folder.Carried(method=state, critic=critic),
    )


def load_method_states(
    spec: RunSpec, env: AbstractVecEnv, run_dir: Path, tasks: Sequence[int]
) -> tuple:
    """`(method, states)`: the method of `spec` (built for `env`'s sizes) and its state
    after each finished task of `tasks` in `run_dir`."""
    method = make_method(spec, spec.policy_spec(env.obs_size, env.action_size))
    blank = method.init(key=jax.random.key(0))
    states = [load_after_task(spec, method, env, run_dir, t, blank).method for t in tasks]
    return method, states


@dataclasses.dataclass
class _Seed:
    """One seed's run between tasks: what every task shares, what the method carries
    from task to task, and the record written to `progress.json`."""

    ctx: _RunContext
    carried: run_folder.Carried
    record: dict


def _prepare(spec, resume, run_dir) -> tuple[RunSpec, dict | None, Path | None]:
    """The spec, the stored record (when resuming) and the run folder, checked before
    anything is built."""
    if resume is not None:
        spec, record = load_resume(resume)
        return spec, record, Path(resume)
    if spec is None:
        raise ValueError("run needs a spec or a run folder to resume")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if (run_dir / "spec.json").exists():
            raise ValueError(f"{str(run_dir)!r} already holds a run")
        run_dir.mkdir(parents=True, exist_ok=True)
    return spec, None, run_dir


def _chunking(spec: RunSpec, learner: sac.Learner) -> tuple[int, int, int, int]:
    """(warm-up rounds, chunks, rounds per chunk, env steps) of every task."""
    num_envs = spec.sac_for_run.num_envs
    rounds_total = max(1, spec.scenario.task_steps // num_envs)
    warm_rounds = min(sac.warmup_rounds(learner), rounds_total - 1)
    chunks = max(1, min(spec.scenario.eval_points, rounds_total - warm_rounds))
    if spec.chunk_steps:
        chunks = max(
            1, (rounds_total - warm_rounds) // max(1, spec.chunk_steps // num_envs)
        )
    chunk_rounds = max(1, (rounds_total - warm_rounds) // chunks)
    steps_per_task = (warm_rounds + chunks * chunk_rounds) * num_envs
    return warm_rounds, chunks, chunk_rounds, steps_per_task


def _open(spec, record, run_dir, envs, bar, row: int) -> _Seed:
    """A seed's method, its state (fresh, or after the last finished task of the
    folder) and its run folder, written before anything is compiled."""
    learners, eval_envs = envs
    scenario = spec.scenario
    action_size = learners[0].env.action_size
    method = make_method(spec, spec.policy_spec(learners[0].env.obs_size, action_size))
    warm_rounds, chunks, chunk_rounds, steps_per_task = _chunking(spec, learners[0])
    root = jax.random.key(spec.seed)
    state = method.init(key=jax.random.fold_in(root, 10_000))
    carried = run_folder.Carried(method=state, critic=None)
    T = scenario.num_tasks
    if record is None:
        if run_dir is None:
            run_dir = run_folder.new_run_dir(spec)
        run_folder.write_json(run_dir / "spec.json", spec_to_dict(spec))
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        record = {
            "format": run_folder.FORMAT,
            "code": code_version(),
            "last_task": -1,
            "tasks": list(scenario.tasks),
            "R": [[None] * T for _ in range(T)],
            "curves": [[] for _ in range(T)],
            "train_trace": [[] for _ in range(T)],
            "reward_before": [None] * T,
            "task_facts": [{} for _ in range(T)],
            "env_steps": 0,
            "train_seconds": 0.0,
            "policy_params_max": 0,
            "policy_params_unit": method.unit_params(),
            "steps_per_task": steps_per_task,
        }
        run_folder.write_json(run_dir / "progress.json", record)
    else:
        if not same_code(record.get("code"), code_version()):
            # resumed by other code (`compare` refuses this unless --allow-mixed)
            others = record.setdefault("code_resumed_with", [])
            if code_version() not in others:
                others.append(code_version())
        last = record["last_task"]
        for stale in range(last + 1):  # finished tasks' mid-task checkpoints
            run_folder.remove_in_task(run_folder.in_task_path(run_dir, stale))
        if last >= 0:
            carried = load_after_task(spec, method, learners[0].env, run_dir, last, state)
    from tensorboardX import SummaryWriter

    context = _RunContext(
        spec=spec,
        method=method,
        learners=learners,
        eval_envs=eval_envs,
        root=root,
        warm_rounds=warm_rounds,
        chunks=chunks,
        chunk_rounds=chunk_rounds,
        writer=SummaryWriter(logdir=str(run_dir)),
        bar=bar,
        row=row,
        run_dir=run_dir,
    )
    return _Seed(ctx=context, carried=carried, record=record)


def _metrics(seed: _Seed, compilations: int) -> Path:
    """Write the finished run's `metrics.json`; returns its folder."""
    spec, record = seed.ctx.spec, seed.record
    scenario = spec.scenario
    summary = metrics.summarise(record, scenario)
    seconds = record["train_seconds"]
    out = {
        "spec": spec.name,
        "method": spec.method.name,
        "domain": scenario.domain,
        "tasks": list(scenario.tasks),
        "seed": spec.seed,
        "code": record.get("code"),
        "code_resumed_with": record.get("code_resumed_with", []),
        "score": scenario.score,
        "score_description": metrics.SCORE_DESCRIPTIONS[scenario.score],
        "R": record["R"],
        **summary,
        "policy_params_max": record["policy_params_max"],
        "policy_params_unit": record["policy_params_unit"],
        "curves": record["curves"],
        "train_trace_fields": list(sac.TRACE_FIELDS),
        "train_trace": record.get("train_trace", [[] for _ in record["curves"]]),
        "reward_before": record["reward_before"],
        "task_facts": record["task_facts"],
        "steps_per_task": record["steps_per_task"],
        "env_steps": record["env_steps"],
        "train_seconds": seconds,
        "env_steps_per_s": record["env_steps"] / seconds if seconds else None,
        "train_chunk_compilations": compilations,
    }
    run_folder.write_json(seed.ctx.run_dir / "metrics.json", out)
    return seed.ctx.run_dir


def _check_same_run(specs: list[RunSpec]) -> None:
    """Seeds share one program only when their specs differ in the seed alone."""
    first = spec_to_dict(dataclasses.replace(specs[0], seed=0))
    for spec in specs[1:]:
        other = spec_to_dict(dataclasses.replace(spec, seed=0))
        if other != first:
            fields = sorted(
                k for k in first.keys() | other.keys() if first.get(k) != other.get(k)
            )
            raise ValueError(
                f"run_seeds: the runs differ in {fields}, not only in the seed; "
                "seeds trained together must share every other spec field"
            )


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
    return run_seeds([spec], resumes=[resume], run_dirs=[run_dir], progress=progress)[0]


def run_seeds(
    specs: Sequence[RunSpec | None],
    *,
    resumes: Sequence[str | Path | None] | None = None,
    run_dirs: Sequence[str | Path | None] | None = None,
    progress: bool | None = None,
) -> list[Path]:
    """`run` for several seeds of one spec, each with its own run folder, trained
    together: task by task, every seed's training chunks run as one compiled program
    with a seed axis (`rewire_eqx.seeds`; sharded when there are several devices)
    while each seed's decisions, evaluations and checkpoints stay its own. `resumes[i]`
    and `run_dirs[i]` are as in `run`; seeds resumed at different tasks or chunks join
    the others where they stand. Returns the run folders."""
    count = len(specs)
    resumes = list(resumes) if resumes is not None else [None] * count
    run_dirs = list(run_dirs) if run_dirs is not None else [None] * count
    if not count or len(resumes) != count or len(run_dirs) != count:
        raise ValueError(
            "run_seeds needs one or more specs, and one resume and run_dir each"
        )
    prepared = [_prepare(*args) for args in zip(specs, resumes, run_dirs)]
    _check_same_run([spec for spec, _, _ in prepared])
    first = environments(prepared[0][0])
    shared = all(learner.env.vmappable for learner in first[0])
    show = progress if progress is not None else os.isatty(2)
    steps = [
        spec.scenario.num_tasks * _chunking(spec, first[0][0])[3] for spec, _, _ in prepared
    ]
    labels = [f"seed {spec.seed}: " if count > 1 else "" for spec, _, _ in prepared]
    bar = _Progress(steps, labels, enabled=show)
    # `train_chunk` is traced once per compiled program, batched over seeds or not
    traces_before = sac.trace_counts().get("train_chunk", 0)
    seeds: list[_Seed] = []
    try:
        for row, (spec, record, run_dir) in enumerate(prepared):
            envs = first if (row == 0 or shared) else environments(spec)
            seeds.append(_open(spec, record, run_dir, envs, bar, row))
        for task in range(prepared[0][0].scenario.num_tasks):
            active = [seed for seed in seeds if seed.record["last_task"] < task]
            if active:
                _run_task(active, task)
    finally:
        bar.close()
        for seed in seeds:
            seed.ctx.writer.close()
    compilations = sac.trace_counts().get("train_chunk", 0) - traces_before
    return [_metrics(seed, compilations) for seed in seeds]


def _mid_task_chunk(chunks: int, share: float) -> int | None:
    """Index of the chunk before which `mid_task` runs: the last `share` of the chunks
    (at least one when there are two or more) follow it; `chunks` means after the last."""
    if share <= 0:
        return None
    after = max(1, round(chunks * share)) if chunks > 1 else 0
    return chunks - min(after, chunks - 1)


def _after_chunk(
    ctx: _RunContext,
    task: int,
    trained: tuple[sac.TrainState, sac.ChunkMetrics],
    run: _TaskRun,
    base_steps: int,
) -> list:
    """After one compiled training chunk of a task: the check for divergence, the
    evaluation of the training task and the logs. Returns the curve point
    `[env step, reward]`."""
    scenario, writer = ctx.spec.scenario, ctx.writer
    name = scenario.tasks[task]
    run.train, chunk_metrics = trained
    values = jax.device_get(chunk_metrics)
    steps = int(values.env_steps)
    if not all(math.isfinite(float(v)) for v in (values.critic_loss, values.actor_loss)):
        raise TrainingDiverged(
            f"non-finite loss in task {task} ({name}) at env step {steps} of the task "
            f"(seed {ctx.spec.seed}); the run folder keeps the checkpoint after task "
            f"{task - 1}"
        )
    reward = run.evaluate(run.train.actor.with_mode(0))
    global_step = base_steps + steps
    episodes = float(values.episodes)
    writer.add_scalar(f"eval/task{task}_{name}", reward, global_step)
    if episodes:
        writer.add_scalar(
            "train/episode_return", float(values.episode_return_sum) / episodes, global_step
        )
    for field in sac.LOSS_FIELDS:
        writer.add_scalar(f"train/{field}", float(getattr(values, field)), global_step)
    if scenario.score == "return":
        shown = f"reward {reward:.1f}"
    else:
        shown = f"success {reward:.2f}"
    if episodes:
        shown += f" (training return {float(values.episode_return_sum) / episodes:.1f})"
    ctx.bar.update(
        ctx.row, global_step, f"task {task + 1}/{scenario.num_tasks} {name}: {shown}"
    )
    return [steps, reward]


@dataclasses.dataclass(frozen=True)
class _RunContext:
    """What every task of a run shares: the spec and method, the task environments, the
    chunking of a task, the logs and the run folder."""

    spec: RunSpec
    method: object
    learners: list
    eval_envs: list
    root: object  # the run's PRNG key
    warm_rounds: int
    chunks: int
    chunk_rounds: int
    writer: object
    bar: _Progress
    row: int  # this seed's row of the progress display
    run_dir: Path


@dataclasses.dataclass
class _TaskRun:
    """Where one task stands between the phases of `_run_task`."""

    learner: sac.Learner
    evaluate: object  # the rollout evaluation on the task
    regulariser: object
    reward_before: float | None
    train: sac.TrainState
    first_chunk: int
    curve: list
    trace: list  # rows of sac.TRACE_FIELDS, `segments` per chunk
    segments: int
    seconds_before: float
    started: float  # perf_counter when this process began the task
    end_key: object
    in_task: Path


def _begin_task(ctx: _RunContext, carried, task: int) -> _TaskRun:
    """Phase 1: the task's actor, learner and regulariser; the learner's state from the
    mid-task checkpoint when one exists, else fresh (critics carried) and warmed up."""
    spec, method, learners, eval_envs = ctx.spec, ctx.method, ctx.learners, ctx.eval_envs
    chunks = ctx.chunks
    state = carried.method
    head = method.policy.head_of_task(task)
    actor_key, sac_key, eval_key, end_key = task_keys(ctx.root, task)
    learner = sac.Learner(learners[task].spec, method.wrap_env(learners[task].env, state))
    evaluate = evaluator(spec, method.wrap_env(eval_envs[task], state), head, eval_key)
    actor = method.training_actor(state, task, key=actor_key)
    reward_before = evaluate(actor.with_mode(0)) if task > 0 else None
    train = sac.begin_task(learner, actor, head=head, key=sac_key, critic=carried.critic)
    started = time.perf_counter()
    in_task = run_folder.in_task_path(ctx.run_dir, task)
    segments = sac.trace_segments(ctx.chunk_rounds)
    restored = (
        run_folder.load_in_task(in_task, train, chunks, segments)
        if in_task.is_file()
        else None
    )
    if restored is None:
        train = sac.warmup(learner, train, ctx.warm_rounds)
        first_chunk, curve, trace, seconds_before = 0, [], [], 0.0
    else:  # continue exactly where the mid-task checkpoint left the task
        restored, host = restored
        train = restored.train
        train = dataclasses.replace(train, env=learner.env.resync(train.env, host))
        first_chunk = int(restored.next_chunk)
        curve = [[int(s), float(r)] for s, r in restored.curve[:first_chunk]]
        trace = [row.tolist() for chunk in restored.trace[:first_chunk] for row in chunk]
        seconds_before = float(restored.seconds)
    return _TaskRun(
        learner=learner,
        evaluate=evaluate,
        regulariser=method.regulariser(state, task),
        reward_before=reward_before,
        train=train,
        first_chunk=first_chunk,
        curve=curve,
        trace=trace,
        segments=segments,
        seconds_before=seconds_before,
        started=started,
        end_key=end_key,
        in_task=in_task,
    )


def _save_in_task(
    run: _TaskRun, train: sac.TrainState, host: bytes | None, next_chunk: int, chunks: int
):
    """A mid-task checkpoint: `train` and the host envs' state `host` (taken with it)
    before chunk `next_chunk`."""
    table = np.zeros((chunks, 2), np.float64)
    if next_chunk:
        table[:next_chunk] = run.curve[:next_chunk]
    fields, segments = len(sac.TRACE_FIELDS), run.segments
    rows = np.asarray(run.trace, np.float64).reshape(-1, fields)
    trace = np.zeros((chunks, segments, fields), np.float64)
    if next_chunk:
        trace[:next_chunk] = rows[: next_chunk * segments].reshape(next_chunk, segments, -1)
    elapsed = run.seconds_before + time.perf_counter() - run.started
    run_folder.save_in_task(
        run.in_task,
        run_folder.InTask(
            train=run_folder.keys_as_data(train),
            next_chunk=np.asarray(next_chunk, np.int64),
            curve=table,
            seconds=np.asarray(elapsed, np.float64),
            trace=trace,
            host_digest=np.zeros((32,), np.uint8),
        ),
        host,
    )


def _train_chunks(seeds: list[_Seed], task: int, runs: list[_TaskRun], bases: list[int]):
    """Phase 2, for every seed at once: the task's chunks (each chunk of all seeds as
    one program where they can share it: `seeds.train_chunks`), a mid-task checkpoint
    every `checkpoint_every_steps` and on Ctrl-C; then the method's offline updates."""
    ctx = seeds[0].ctx
    method, chunks = ctx.method, ctx.chunks
    every = ctx.spec.checkpoint_every_steps
    saved_steps = [int(run.train.env_steps) for run in runs]
    mid_chunk = _mid_task_chunk(chunks, method.mid_task_share(task))
    for chunk in range(min(run.first_chunk for run in runs), chunks + 1):
        members = [i for i, run in enumerate(runs) if run.first_chunk <= chunk]
        at_chunk_start = {  # what a Ctrl-C saves
            i: (runs[i].train, runs[i].learner.env.host_snapshot()) for i in members
        }
        try:
            if chunk == mid_chunk:
                for i in members:
                    runs[i].train = dataclasses.replace(
                        runs[i].train, actor=method.mid_task(runs[i].train.actor, task)
                    )
            if chunk == chunks:
                break
            trained = seed_batch.train_chunks(
                [(runs[i].learner, runs[i].train, runs[i].regulariser) for i in members],
                ctx.chunk_rounds,
            )
        except KeyboardInterrupt:
            for i in members:
                _save_in_task(runs[i], *at_chunk_start[i], chunk, chunks)
            raise
        for i, result in zip(members, trained):
            run = runs[i]
            point = _after_chunk(seeds[i].ctx, task, result, run, bases[i])
            run.curve.append(point)
            run.trace.extend(np.asarray(jax.device_get(result[1].trace)).tolist())
            if every and point[0] - saved_steps[i] >= every and chunk + 1 < chunks:
                host = run.learner.env.host_snapshot()
                _save_in_task(run, run.train, host, chunk + 1, chunks)
                saved_steps[i] = point[0]
    offline = method.offline_updates(task)
    for run in runs if offline else ():  # e.g. PackNet: prune, then retrain from the buffer
        run.train = dataclasses.replace(
            run.train, actor=method.mid_task(run.train.actor, task)
        )
        blocks = max(1, offline // run.learner.spec.policy_update_delay)
        run.train = sac.train_updates(run.learner, run.train, run.regulariser, blocks)


def _end_task(method, state, task, run: _TaskRun):
    """Phase 3: the method consolidates what the task trained."""
    observations = run.train.buffer.sample(jax.random.fold_in(run.end_key, 10_000), 1024)
    return method.end_task(
        state,
        run.train.actor,
        task,
        TaskEnd(
            evaluate=run.evaluate,
            reward_before=run.reward_before,
            observations=observations.obs,
            critic=run.train.critic,
        ),
    )


def _evaluate_all(ctx: _RunContext, state, task: int, end_key) -> list[float]:
    """Phase 4: every task seen so far, each with its own policy (R's row `task`)."""
    spec, method, eval_envs, writer = ctx.spec, ctx.method, ctx.eval_envs, ctx.writer
    row = []
    for seen in range(task + 1):
        seen_eval = evaluator(
            spec,
            method.wrap_env(eval_envs[seen], state),
            method.policy.head_of_task(seen),
            jax.random.fold_in(end_key, seen),
        )
        row.append(seen_eval(method.policy_for_task(state, seen)))
        writer.add_scalar(f"R/task{seen}", row[-1], task)
    return row


def _record(ctx: _RunContext, record, state, task, run: _TaskRun, facts, row, base_steps):
    """Phase 5: the record and the task's checkpoint, written atomically."""
    method, run_dir = ctx.method, ctx.run_dir
    record = dict(record)
    record["R"][task][: task + 1] = row
    record["curves"][task] = run.curve
    record.setdefault("train_trace", [[] for _ in record["curves"]])[task] = run.trace
    record["reward_before"][task] = run.reward_before
    record["task_facts"][task] = facts
    record["env_steps"] = base_steps + int(run.train.env_steps)
    record["train_seconds"] += run.seconds_before + time.perf_counter() - run.started
    record["policy_params_max"] = max(
        record["policy_params_max"], method.policy_params(state, task + 1)
    )
    record["last_task"] = task
    carried = run_folder.Carried(
        method=state, critic=run.train.critic if method.carries_critic else None
    )
    run_folder.save_state(run_folder.after_task_path(run_dir, task), carried)
    run_folder.write_json(run_dir / "progress.json", record)
    run_folder.remove_in_task(run.in_task)  # the task's own checkpoint supersedes it
    return carried, record


def _run_task(seeds: list[_Seed], task: int) -> None:
    """One task for every seed, as five phases: begin, train chunks (together), end,
    evaluate all, record."""
    runs = [_begin_task(seed.ctx, seed.carried, task) for seed in seeds]
    bases = [seed.record["env_steps"] for seed in seeds]
    _train_chunks(seeds, task, runs, bases)
    for seed, run, base_steps in zip(seeds, runs, bases):
        ctx = seed.ctx
        state, facts = _end_task(ctx.method, seed.carried.method, task, run)
        row = _evaluate_all(ctx, state, task, run.end_key)
        seed.carried, seed.record = _record(
            ctx, seed.record, state, task, run, facts, row, base_steps
        )
