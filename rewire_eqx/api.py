"""The Python API offered at the top of the package (`import rewire_eqx as rx`).

Train a spec and get its run back as a typed object, load a finished run, take the
trained policy of one task and evaluate it:

    import dataclasses
    import rewire_eqx as rx

    spec = rx.quick_run()
    spec = dataclasses.replace(spec, losses=dataclasses.replace(spec.losses, align_beta=10.0))
    done = rx.run(spec)                      # a `Run`: folder, spec, metrics, R, curves
    print(done.R, done.average_performance)
    again = rx.load_run(done.folder)         # the same run read from its folder
    policy = again.policy(1)                 # task 1's policy after the last task
    print(rx.evaluate(policy, again.env(1), episodes=5))

Everything here is a thin layer over the modules that do the work
(`rewire_eqx.runner`, `rewire_eqx.comparison`, `rewire_eqx.run_folder`, `rewire_eqx.sac`),
which stay importable on their own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from rewire_eqx import comparison as _compare
from rewire_eqx import losses, run_folder, runner, sac
from rewire_eqx.envs.base import AbstractVecEnv
from rewire_eqx.networks import AbstractPolicyFn
from rewire_eqx.ray_jobs import RayOptions
from rewire_eqx.specs import RunSpec

__all__ = ["Comparison", "Run", "TaskPolicy", "compare", "evaluate", "load_run", "run"]


@dataclasses.dataclass(frozen=True)
class TaskPolicy:
    """The trained policy of one task: the network, the index of its head, and how the
    method presents an environment to it (CSP appends its subspace coordinates to the
    observation; every other method sees the environment unchanged)."""

    net: AbstractPolicyFn
    head: int
    task: int
    task_name: str
    score: str
    """What `evaluate` measures by default: the run's `ScenarioSpec.score`."""
    _method: object = dataclasses.field(repr=False, compare=False)
    _state: object = dataclasses.field(repr=False, compare=False)

    def sees(self, env: AbstractVecEnv) -> AbstractVecEnv:
        """`env` as this policy observes it."""
        return self._method.wrap_env(env, self._state)

    def act(self, obs) -> jax.Array:
        """The deterministic action tanh(mean) for one observation (as seen through
        `sees`)."""
        mean, _ = losses.gaussian_head(self.net(obs, head=self.head))
        return jax.numpy.tanh(mean)


def evaluate(
    policy: TaskPolicy | AbstractPolicyFn,
    env: AbstractVecEnv,
    *,
    head: int | None = None,
    episodes: int = 10,
    key: PRNGKeyArray | None = None,
    score: str | None = None,
) -> float:
    """Mean score of the deterministic policy tanh(mean) over `episodes` rollouts of
    every env of `env` (`sac.evaluate_rollouts`).

    `policy` is a `TaskPolicy` (its head, its view of the environment and its run's
    score are used) or a bare network with `head` (default 0). `score` is one of
    `sac.SCORES` (default: the `TaskPolicy`'s, else the return)."""
    if episodes < 1:
        raise ValueError(f"evaluate: episodes={episodes} must be >= 1")
    if isinstance(policy, TaskPolicy):
        head = policy.head if head is None else head
        score = policy.score if score is None else score
        env, net = policy.sees(env), policy.net
    else:
        net = policy
    score = "return" if score is None else score
    if score not in sac.SCORES:
        raise ValueError(f"evaluate: score={score!r}; valid choices: {list(sac.SCORES)}")
    key = jax.random.key(0) if key is None else key
    keys = jax.random.split(key, episodes)
    return float(sac.evaluate_rollouts(env, net, head or 0, keys, score))


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished (or partly finished) run folder: its spec and `metrics.json` (or,
    before the last task ends, `progress.json`), with the trained policies on demand."""

    folder: Path
    spec: RunSpec
    metrics: dict

    @property
    def finished(self) -> bool:
        return (self.folder / "metrics.json").is_file()

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.spec.scenario.tasks

    @property
    def last_task(self) -> int:
        """Index of the last finished task."""
        return int(self.metrics.get("last_task", len(self.tasks) - 1))

    @property
    def R(self) -> np.ndarray:
        """`R[i, j]`: the score on task j after training task i (NaN where not yet
        evaluated); the score is `ScenarioSpec.score` (success rate on Meta-World)."""
        return np.array(
            [[np.nan if v is None else v for v in row] for row in self.metrics["R"]],
            dtype=np.float64,
        )

    @property
    def curves(self) -> list[list[tuple[int, float]]]:
        """Per task, the (env step, score) evaluations during its training."""
        return [[(int(s), float(v)) for s, v in curve] for curve in self.metrics["curves"]]

    def __getattr__(self, name: str):
        # the summary metrics of metrics.json (average_performance, forgetting, ...)
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(
            f"Run has no attribute {name!r}; metrics.json keys: {sorted(metrics)}"
        )

    def _method_and_state(self, after: int):
        env = runner.task_env(self.spec, self.tasks[0], 1)
        method, (state,) = runner.load_method_states(self.spec, env, self.folder, [after])
        return method, state

    def policy(self, task: int, *, after: int | None = None) -> TaskPolicy:
        """Task `task`'s policy as the run held it after finishing task `after`
        (default: the last finished task; `R[after, task]` is its score)."""
        after = self.last_task if after is None else after
        if not 0 <= after <= self.last_task:
            raise ValueError(
                f"policy: after={after}; finished tasks are 0..{self.last_task}"
            )
        if not 0 <= task <= after:
            raise ValueError(
                f"policy: task={task}; tasks seen after {after} are 0..{after}"
            )
        method, state = self._method_and_state(after)
        return TaskPolicy(
            net=method.policy_for_task(state, task),
            head=int(method.policy.head_of_task(task)),
            task=task,
            task_name=self.tasks[task],
            score=self.spec.scenario.score,
            _method=method,
            _state=state,
        )

    def env(self, task: int, *, num_envs: int | None = None) -> AbstractVecEnv:
        """Evaluation environments of task `task` (the spec's `eval_envs` by default)."""
        scenario = self.spec.scenario
        return runner.task_env(
            self.spec, scenario.tasks[task], num_envs or scenario.eval_envs
        )

    def r_key(self, after: int, task: int) -> PRNGKeyArray:
        """The key the run evaluated `R[after, task]` with: `evaluate(self.policy(task,
        after=after), self.env(task), key=..., episodes=spec.scenario.eval_rollouts)`
        reproduces that entry."""
        end_key = runner.task_keys(jax.random.key(self.spec.seed), after)[3]
        return jax.random.fold_in(end_key, task)


def load_run(folder: str | Path) -> Run:
    """Read a run folder written by `run` (or the CLI): its spec and metrics. Raises
    `run_folder.ResumeError` naming the folder when it is not a run folder."""
    folder = Path(folder)
    spec, progress = run_folder.load_resume(folder)
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else progress
    return Run(folder=folder, spec=spec, metrics=metrics)


def run(
    spec: RunSpec | Sequence[RunSpec], *, progress: bool | None = None
) -> Run | list[Run]:
    """Train and evaluate a spec (one `Run`), or several seeds of one spec trained
    together as one program (a list of `Run`, one folder each; they must differ in the
    seed alone: `runner.run_seeds`)."""
    if isinstance(spec, RunSpec):
        return load_run(runner.run(spec, progress=progress))
    folders = runner.run_seeds(list(spec), progress=progress)
    return [load_run(folder) for folder in folders]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A finished comparison: its report folder, the report text and every variant's
    runs."""

    out: Path
    report: str
    runs: dict[str, list[Run]]


def compare(
    spec: RunSpec,
    *,
    variants: Sequence[str] | None = None,
    seeds: int = 3,
    out: str | Path | None = None,
    jobs: int = 1,
    against_paper: bool = False,
    allow_mixed: bool = False,
    ray: RayOptions | None = None,
) -> Comparison:
    """Run `variants` (default: every method and ablation, `comparison.VARIANTS`) of `spec`
    for seeds 0..`seeds`-1, resuming what a stopped comparison left, and write the
    report into `out` (default `<spec.output_dir>/<spec.name>_comparison`); `jobs > 1`
    runs the jobs in that many worker processes (`jobs.LocalWorkers`), `ray` as tasks of
    a Ray cluster (`ray_jobs.RayOptions`: address, CPUs and GPUs per job, retries)."""
    variants = list(_compare.VARIANTS) if variants is None else list(variants)
    out = (
        Path(out) if out is not None else Path(spec.output_dir) / f"{spec.name}_comparison"
    )
    report = _compare.compare(
        spec,
        variants=variants,
        seeds=seeds,
        out=out,
        jobs=jobs,
        against_paper=against_paper,
        allow_mixed=allow_mixed,
        ray=ray,
    )
    listed = json.loads((out / "runs.json").read_text())
    runs = {v: [load_run(d) for d in dirs] for v, dirs in listed.items()}
    return Comparison(out=out, report=report, runs=runs)
