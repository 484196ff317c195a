"""Head-swap probes: how much of a task's learning sits in its own head.

With a head per task slot, a new task starts from a copy of the previous head, and a
method that holds its hidden layers in place (FT-L2, EWC, Rewire's regulariser) can still
learn the task in the head alone. For every finished task `t >= 1` of a run whose policy
has a head per slot, the probe evaluates, on task `t`, the four pairs of

- a network: task `t-1`'s (its hidden layers and, for Rewire, its cached wiring, as
  stored after task `t-1`) or task `t`'s (as stored after task `t`),
- a head: task `t-1`'s or task `t`'s (each from the checkpoint of its own task),

with the evaluation key the run used for `R[t, t]`: the pair (task `t`'s network, task
`t`'s head) reproduces `R[t, t]` exactly, which checks the loading. If (task `t-1`'s
network, task `t`'s head) scores near `R[t, t]`, the head carried the learning.

Two more columns: for Rewire, the share of hidden neurons task `t`'s kept wiring
re-placed; and, when task `t` only flips the sign of task `t-1`'s actions
(`inverted_actions`), task `t-1`'s policy with its Gaussian mean negated, a solution
that lives in the head alone.

    python -m rewire_eqx heads RUN_DIR [RUN_DIR ...] [--out heads.md]
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from rewire_eqx import run_folder
from rewire_eqx.envs.variants import VARIANTS, get_variant
from rewire_eqx.methods.rewire import Rewire
from rewire_eqx.networks import PlainMLP
from rewire_eqx.report import format_score
from rewire_eqx.runner import environments, evaluator, load_method_states, task_keys

__all__ = ["HeadProbe", "HeadProbeError", "format_probes", "head_probes"]


class HeadProbeError(Exception):
    """A run folder the probe cannot use (message names the folder and why)."""


@dataclasses.dataclass(frozen=True)
class HeadProbe:
    """Scores on task `task` of each (network, head) pair; `stored` is `R[t, t]`."""

    run_dir: str
    spec_name: str
    seed: int
    task: int
    task_name: str
    stored: float
    previous_network_previous_head: float
    previous_network_own_head: float
    own_network_previous_head: float
    own_network_own_head: float
    wiring_moved: float | None = None  # Rewire: share of neurons re-placed on task t
    wiring_displacement: list[float] | None = None  # per layer, mean distance / width
    previous_policy_negated: float | None = None  # see `_inverts_previous`


def _states_after_tasks(run_dir: Path):
    """The spec, method, environments and the method state after every finished task."""
    try:
        spec, progress = run_folder.load_resume(run_dir)
    except run_folder.ResumeError as error:
        raise HeadProbeError(str(error).replace("--resume", "heads")) from None
    learners, eval_envs = environments(spec)
    tasks = range(progress["last_task"] + 1)
    method, states = load_method_states(spec, learners[0].env, run_dir, tasks)
    return spec, progress, method, eval_envs, states


def _head_into(policy: PlainMLP, index: int, source: PlainMLP, source_index: int):
    """`policy` with its head `index` replaced by head `source_index` of `source`."""
    heads = jax.tree.map(
        lambda mine, theirs: mine.at[index].set(theirs[source_index]),
        policy.heads,
        source.heads,
    )
    return eqx.tree_at(lambda p: p.heads, policy, heads)


def head_probes(run_dir: str | Path) -> list[HeadProbe]:
    """The head-swap probe of every finished task `t >= 1` of one run folder."""
    run_dir = Path(run_dir)
    spec, progress, method, eval_envs, states = _states_after_tasks(run_dir)
    if method.policy.num_heads < 2:
        raise HeadProbeError(
            f"heads {str(run_dir)!r}: the policy has one shared head; the probe needs a "
            "head per task slot"
        )
    root = jax.random.key(spec.seed)
    probes = []
    for t in range(1, len(states)):
        own = method.policy_for_task(states[t], t)
        previous = method.policy_for_task(states[t - 1], t - 1)
        if not (isinstance(own, PlainMLP) and isinstance(previous, PlainMLP)):
            raise HeadProbeError(
                f"heads {str(run_dir)!r}: method {spec.method.name!r} has no plain "
                "network with stacked heads to swap"
            )
        # every pair is called with head index h (task t's): the head wanted is put there
        h, h_previous = method.policy.head_of_task(t), method.policy.head_of_task(t - 1)
        end_key = task_keys(root, t)[3]
        evaluate = evaluator(
            spec,
            method.wrap_env(eval_envs[t], states[t]),
            h,
            jax.random.fold_in(end_key, t),
        )
        pairs = {
            "previous_network_previous_head": _head_into(previous, h, previous, h_previous),
            "previous_network_own_head": _head_into(previous, h, own, h),
            "own_network_previous_head": _head_into(own, h, previous, h_previous),
            "own_network_own_head": own,
        }
        probes.append(
            HeadProbe(
                run_dir=str(run_dir),
                spec_name=spec.name,
                seed=spec.seed,
                task=t,
                task_name=spec.scenario.tasks[t],
                stored=float(progress["R"][t][t]),
                **{name: evaluate(policy) for name, policy in pairs.items()},
                wiring_moved=_wiring_moved(method, states, t),
                wiring_displacement=(
                    method.wiring_displacement(states[t - 1], t, states[t].actor, 0)
                    if isinstance(method, Rewire)
                    else None
                ),
                previous_policy_negated=(
                    evaluate(_mean_negated(pairs["previous_network_previous_head"], h))
                    if _inverts_previous(spec, t)
                    else None
                ),
            )
        )
    return probes


def _inverts_previous(spec, t: int) -> bool:
    """Whether task `t` is task `t-1` with every action's sign flipped
    (`inverted_actions` after `normal`, or back).

    Then a head alone can undo the change: the previous policy with its Gaussian mean
    negated (tanh is odd) sends task `t-1`'s actions to the environment, so on task `t`
    it scores what it scored on task `t-1`."""
    domain, tasks = spec.scenario.domain, spec.scenario.tasks
    if domain not in VARIANTS:
        return False
    before, after = get_variant(domain, tasks[t - 1]), get_variant(domain, tasks[t])
    same_otherwise = dataclasses.replace(
        before, invert_actions=False
    ) == dataclasses.replace(after, invert_actions=False)
    return same_otherwise and before.invert_actions != after.invert_actions


def _mean_negated(policy: PlainMLP, index: int) -> PlainMLP:
    """`policy` with the mean outputs of head `index` (the first half of its outputs)
    negated; the log-std outputs are kept."""
    half = policy.heads.weight.shape[1] // 2
    scale = jnp.concatenate([-jnp.ones(half), jnp.ones(half)])
    return eqx.tree_at(
        lambda p: (p.heads.weight, p.heads.bias),
        policy,
        (
            policy.heads.weight.at[index].multiply(scale[:, None]),
            policy.heads.bias.at[index].multiply(scale),
        ),
    )


def _wiring_moved(method, states, t: int) -> float | None:
    """Rewire: the mean over hidden layers of the share of neurons whose place in task
    `t`'s kept wiring (all modes restart from it when the task ends) differs from the
    wiring task `t` started from; None for other methods."""
    if not isinstance(method, Rewire):
        return None
    return float(np.mean(method.wiring_moved(states[t - 1], t, states[t].actor, 0)))


def _layers(values: list[float] | None) -> str:
    return "-" if values is None else " / ".join(f"{v:.3f}" for v in values)


def format_probes(probes: list[HeadProbe]) -> str:
    """Markdown table of head-swap probes."""
    lines = [
        "| run | seed | task | R[t, t] | network t-1, head t-1 | network t-1, head t "
        "| network t, head t-1 | network t, head t | wiring moved "
        "| wiring displacement / width | network t-1, head t-1, mean negated |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in probes:
        lines.append(
            f"| {p.spec_name} | {p.seed} | {p.task}: {p.task_name} "
            f"| {format_score(p.stored)} "
            f"| {format_score(p.previous_network_previous_head)} "
            f"| {format_score(p.previous_network_own_head)} "
            f"| {format_score(p.own_network_previous_head)} "
            f"| {format_score(p.own_network_own_head)} "
            f"| {'-' if p.wiring_moved is None else f'{p.wiring_moved:.2f}'} "
            f"| {_layers(p.wiring_displacement)} "
            f"| {'-' if p.previous_policy_negated is None else format_score(p.previous_policy_negated)} |"
        )
    return "\n".join(lines)
