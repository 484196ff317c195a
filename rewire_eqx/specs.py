"""Frozen dataclass specs: data only, validated on construction, built by `build`.

A bad value raises `ValueError` naming the field (`Spec.field`), the value and the valid
range, before anything is compiled. Specs compose with `dataclasses.replace`, and every
field is overridable from the command line (`--policy.permutation.num-modes 5`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal, get_args

from jaxtyping import PRNGKeyArray

from rewire_eqx.networks import ACTIVATIONS, AbstractPolicyNet, PlainMLP, RewiredMLP

__all__ = [
    "LossSpec",
    "NetworkSpec",
    "PermutationSpec",
    "PolicySpec",
    "METHODS",
    "MethodSpec",
    "RunSpec",
    "SACSpec",
    "ScenarioSpec",
    "build",
    "spec_from_dict",
    "spec_to_dict",
]

Activation = Literal["leaky_relu", "relu", "tanh", "elu", "silu", "gelu"]


def _fail(spec: object, field: str, value: object, expected: str) -> None:
    raise ValueError(f"{type(spec).__name__}.{field}={value!r} is invalid: {expected}")


def _positive_int(spec: object, field: str, minimum: int = 1) -> None:
    value = getattr(spec, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(spec, field, value, f"expected an integer >= {minimum}")


def _number(spec: object, field: str, *, positive: bool) -> None:
    value = getattr(spec, field)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        _fail(
            spec,
            field,
            value,
            "expected a finite number " + ("> 0" if positive else ">= 0"),
        )


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """Shape of a policy body (paper: 3 hidden layers of 256, LeakyReLU 0.2)."""

    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """Width of each hidden layer; these layers are the ones rewired."""
    activation: Activation = "leaky_relu"
    """Elementwise activation (leaky_relu has slope 0.2)."""
    first_layer_norm: bool = False
    """LayerNorm then tanh after the first hidden layer, in place of the activation (the
    Continual World benchmark's body). The LayerNorm has no learned scale or shift, so
    it commutes with permutations of the neurons (see docs/methods.md, Continual World)."""

    def __post_init__(self):
        sizes = self.hidden_sizes
        if (
            not isinstance(sizes, tuple)
            or len(sizes) == 0
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes)
        ):
            _fail(
                self, "hidden_sizes", sizes, "expected a non-empty tuple of integers >= 1"
            )
        if self.activation not in ACTIVATIONS:
            _fail(
                self, "activation", self.activation, f"valid choices: {sorted(ACTIVATIONS)}"
            )


@dataclasses.dataclass(frozen=True)
class PermutationSpec:
    """Parameterisation of the learnable wirings (Eq. 3-5) and the adapters (Eq. 9-12)."""

    num_modes: int = 3
    """K, the number of wirings trained at once (multi-mode rewiring, Eq. 5)."""
    tau: float = 1.0
    """SoftSort temperature of the score vectors (Eq. 4)."""
    noise_scale: float = 0.1
    """Scale beta of the Gumbel noise added to the scores in the SoftSort pass of
    gradient updates (never in collection or evaluation); 0 disables it."""
    noisy_forward: bool = True
    """True (the published code): in a noisy update pass the hard forward order comes
    from the noisy scores, so the network the gradient is taken on is re-wired by the
    noise. False (our extension, not published): the forward keeps the noise-free hard
    order (the one collection and evaluation use) and the Gumbel noise enters only the
    SoftSort relaxation of the backward pass."""
    dropout: float = 0.0
    """Dropout rate on the outputs of the hidden linear layers during collection and
    updates (never in evaluation). The published code uses 0.1 in the scenarios whose
    Gumbel scale is 0."""
    adapter_tau: float = 0.1
    """SoftSort temperature tau_2 of the alignment adapters (no noise)."""
    adapter_form: Literal["paper", "code"] = "paper"
    """How the adapters move the anchor in Eq. 11: `Z W_old A^T` (paper: the equation as
    written, P'' = Z) or `Z^T W_old A` (code: the published code's zp.T @ W_old @ ap).
    Same permutations, a different SoftSort gradient for the adapter scores; 'paper'
    forgot far less on the settings seeds (docs/fidelity.md)."""

    def __post_init__(self):
        _positive_int(self, "num_modes")
        _number(self, "tau", positive=True)
        _number(self, "noise_scale", positive=False)
        _number(self, "dropout", positive=False)
        if not self.dropout < 1:
            _fail(self, "dropout", self.dropout, "expected a rate in [0, 1)")
        _number(self, "adapter_tau", positive=True)
        if self.adapter_form not in ("paper", "code"):
            _fail(
                self,
                "adapter_form",
                self.adapter_form,
                "valid choices: ['paper', 'code']",
            )

    @property
    def stochasticity(self) -> str:
        """'gumbel', 'dropout', both joined by '+', or 'none'."""
        flags = (("gumbel", self.noise_scale > 0), ("dropout", self.dropout > 0))
        return "+".join(kind for kind, on in flags if on) or "none"


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Weights of the method's extra actor losses."""

    distill_alpha: float = 1e-5
    """alpha: weight of the distillation between modes (Eq. 6)."""
    distill_states: int = 512
    """The published code sums the distillation over the states of its replay batch
    (2 time slices x 256 = 512) while the SAC actor loss beside it is a mean; ours is
    the per-state mean times this many states, so alpha weighs it as published
    whatever our batch size."""
    align_beta: float = 100.0
    """beta: weight of the alignment regulariser (Eq. 11, published form)."""
    l2_coef: float = 100.0
    """Weight of the plain L2 regulariser to the previous weights (Eq. 7): used by FT-L2
    and by Rewire with alignment switched off."""
    ewc_coef: float = 1e4
    """EWC's penalty weight (Continual World's value)."""
    fisher_min: float = 1e-5
    """EWC's Fisher is clipped from below at this value."""

    def __post_init__(self):
        for field in ("distill_alpha", "align_beta", "l2_coef", "ewc_coef", "fisher_min"):
            _number(self, field, positive=False)
        _positive_int(self, "distill_states")


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """A policy network: body shape, wiring parameterisation, sizes and task slots."""

    in_size: int = 18
    """Observation size."""
    out_size: int = 12
    """Head output size (2 x action size: mean and log-std)."""
    num_tasks: int = 8
    """Number of tasks of the scenario."""
    task_heads: bool = True
    """One head per task slot (the paper) instead of one shared head."""
    cycle: int = 0
    """Task t uses slot `t mod cycle` (its head and cached wiring); 0: a slot per task.
    The published Brax code uses 4, and 2 in the robustness scenarios."""
    rewire: bool = True
    """Learn permutations of the hidden neurons; False gives a plain MLP."""
    network: NetworkSpec = NetworkSpec()
    permutation: PermutationSpec = PermutationSpec()

    def __post_init__(self):
        for field in ("in_size", "out_size", "num_tasks"):
            _positive_int(self, field)
        _positive_int(self, "cycle", minimum=0)

    @property
    def num_slots(self) -> int:
        """Task slots (cached wirings, and heads when each slot has its own)."""
        return min(self.cycle, self.num_tasks) if self.cycle else self.num_tasks

    @property
    def num_heads(self) -> int:
        return self.num_slots if self.task_heads else 1

    def slot_of_task(self, task: int) -> int:
        """The slot (cached wiring) of task `task`: `task mod cycle`."""
        return task % self.num_slots

    def head_of_task(self, task: int) -> int:
        """The head used by task `task` (its slot's, or the shared head)."""
        return task % self.num_heads


@dataclasses.dataclass(frozen=True)
class SACSpec:
    """Soft Actor-Critic with autotuned temperature; defaults are the paper's Brax set-up
    (generic values; the HalfCheetah scenarios use actor_lr 1e-3, target delay 2)."""

    num_envs: int = 128
    """Parallel training environments (one env step each per collection round)."""
    episode_length: int = 1000
    """Steps after which an episode is truncated (and bootstraps)."""
    batch_size: int = 256
    buffer_size: int = 1_280_000
    """Replay capacity in transitions."""
    learning_starts: int = 12_800
    """Transitions collected before the first gradient update."""
    start_steps: int = 12_800
    """Transitions collected with uniform random actions at the start of a task."""
    updates_per_step: float = 0.5
    """Gradient updates per environment step (x num_envs per round)."""
    discount: float = 0.99
    bootstrap_at_truncation: bool = True
    """Bootstrap the TD target when an episode is cut by the time limit (correct for a
    time-limited task). False treats truncation as terminal, as the published code
    does (for exact reproduction)."""
    carry_critic: bool = True
    """Carry the critics from task to task (fresh optimiser, target critics re-copied),
    as the published code does for every method but CSP; False: new critics per task."""
    target_smoothing: float = 0.005
    """Polyak factor of the target critics."""
    policy_update_delay: int = 2
    """One actor (and temperature) update every this many critic updates."""
    target_update_delay: int = 1
    """Target critics updated every this many critic updates."""
    reward_scale: float = 1.0
    actor_lr: float = 3e-4
    wiring_lr: float = 0.0
    """0 (the published code): scores and adapters share the actor's Adam and learning
    rate. A positive value gives them their own Adam at this rate: a deviation from the
    paper, for experiments only."""
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    init_temperature: float = 2.0
    target_entropy_scale: float = -2.0
    """Target entropy = this x action size."""
    autotune_temperature: bool = True
    distill_alpha: float = 0.0
    """Weight of the per-state mean of the distillation (Eq. 6): the run sets it to
    LossSpec.distill_alpha x LossSpec.distill_states; 0 switches distillation off."""
    critic: NetworkSpec = NetworkSpec()
    """Shape of each of the twin critics."""

    def __post_init__(self):
        for field in ("num_envs", "episode_length", "batch_size", "buffer_size"):
            _positive_int(self, field)
        for field in ("policy_update_delay", "target_update_delay"):
            _positive_int(self, field)
        for field in ("learning_starts", "start_steps"):
            _positive_int(self, field, minimum=0)
        for field in ("updates_per_step", "actor_lr", "critic_lr", "init_temperature"):
            _number(self, field, positive=True)
        for field in ("alpha_lr", "wiring_lr", "reward_scale", "distill_alpha"):
            _number(self, field, positive=False)
        if not (isinstance(self.discount, (int, float)) and 0 <= self.discount <= 1):
            _fail(self, "discount", self.discount, "expected a number in [0, 1]")
        if not (
            isinstance(self.target_smoothing, (int, float))
            and 0 < self.target_smoothing <= 1
        ):
            _fail(
                self,
                "target_smoothing",
                self.target_smoothing,
                "expected a number in (0, 1]",
            )
        if not isinstance(self.target_entropy_scale, (int, float)) or not math.isfinite(
            self.target_entropy_scale
        ):
            _fail(
                self,
                "target_entropy_scale",
                self.target_entropy_scale,
                "expected a finite number",
            )
        per_round = self.updates_per_step * self.num_envs
        if per_round != int(per_round) or int(per_round) % self.policy_update_delay:
            _fail(
                self,
                "updates_per_step",
                self.updates_per_step,
                f"expected updates_per_step x num_envs ({per_round:g}) to be a whole multiple of "
                f"policy_update_delay ({self.policy_update_delay})",
            )
        if self.buffer_size < self.num_envs:
            _fail(
                self,
                "buffer_size",
                self.buffer_size,
                f"expected >= num_envs ({self.num_envs})",
            )

    @property
    def updates_per_round(self) -> int:
        return int(self.updates_per_step * self.num_envs)


Method = Literal["rewire", "ft1", "ft_l2", "ftn", "sacn", "ewc", "packnet", "pnn", "csp"]
METHODS: tuple[str, ...] = get_args(Method)


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """Which continual-learning method runs, and Rewire's ablation switches (Table 3)."""

    name: Method = "rewire"
    """rewire (the paper), ft1 (fine-tune one policy), ft_l2 (fine-tune with L2 to the
    previous task's weights), ftn (fine-tune, keep a copy per task), sacn (a fresh policy
    per task), ewc (elastic weight consolidation, diagonal Fisher), packnet (prune and
    freeze a share of the weights per task), pnn (a new column per task with lateral
    connections), csp (a subspace of policies grown by anchors)."""
    caching: bool = True
    """Rewire: cache each task's wiring (False: every task uses the current wiring)."""
    multi_mode: bool = True
    """Rewire: K modes (False: K = 1)."""
    alignment: bool = True
    """Rewire: alignment adapters (Eq. 9-12); False keeps plain L2 (Eq. 7) instead."""
    rollback: bool = True
    """Restore the pre-task policy when training did not beat its reward (from CSP)."""
    packnet_retrain_share: float = 0.1
    """PackNet: share of each task's budget spent retraining after pruning."""
    packnet_retrain_updates: int = 0
    """PackNet: if > 0, retrain after the task's interaction budget with this many
    gradient updates from its replay buffer, scaled by budget_scale (the published
    code: 100,000); packnet_retrain_share is then unused."""
    packnet_prune_ratio: float = 0.0
    """PackNet: if > 0, each task keeps the largest (1 - ratio) of every layer's entries
    among its weights (the published code: 0.875); 0: an even split of what is left."""
    csp_threshold: float = 0.1
    """CSP: keep a new anchor only if the best policy with it beats the best policy
    without it by more than this share of the latter's |reward|."""
    csp_candidates: int = 64
    """CSP: points of each subspace scored by the critic when choosing a task's policy."""
    csp_resample_every: int = 0
    """CSP: also redraw alpha every this many steps within an episode (the published
    code's repeat_alpha: 20 or 100 per scenario); 0: only at episode starts."""
    pnn_width: int = 0
    """PNN: width of every hidden layer of a column (the published code: 96); 0: the
    actor network's widths."""

    def __post_init__(self):
        if self.name not in METHODS:
            _fail(self, "name", self.name, f"valid choices: {list(METHODS)}")
        _number(self, "packnet_retrain_share", positive=False)
        if not self.packnet_retrain_share < 1:
            _fail(self, "packnet_retrain_share", self.packnet_retrain_share, "expected < 1")
        _positive_int(self, "packnet_retrain_updates", minimum=0)
        _number(self, "packnet_prune_ratio", positive=False)
        if not self.packnet_prune_ratio < 1:
            _fail(self, "packnet_prune_ratio", self.packnet_prune_ratio, "expected < 1")
        _number(self, "csp_threshold", positive=False)
        _positive_int(self, "csp_candidates")
        _positive_int(self, "csp_resample_every", minimum=0)
        _positive_int(self, "pnn_width", minimum=0)

    @property
    def rewires(self) -> bool:
        """Whether the actor has permutation layers (Rewire and its ablations): the only
        method that reads the permutation spec and the distillation loss (Eq. 5-6)."""
        return self.name == "rewire"


Domain = Literal["pendulum", "halfcheetah", "ant", "humanoid", "metaworld"]
SuccessMode = Literal["any_step", "last_step"]


@dataclasses.dataclass(frozen=True)
class ScenarioSpec:
    """A sequence of tasks of one domain, its budget and its evaluation."""

    domain: Domain = "pendulum"
    tasks: tuple[str, ...] = ("normal",)
    """Task names, in order: variants of a JAX domain (rewire_eqx.envs.variants.VARIANTS)
    or Meta-World v3 tasks (rewire_eqx.envs.metaworld_env.METAWORLD_TASKS)."""
    steps_per_task: int = 1_000_000
    """Environment steps per task at full scale."""
    budget_scale: float = 1.0
    """Multiplies steps_per_task (and the SAC warm-up) to shrink a scenario; below 1
    it also shrinks evals_per_task (never below two evaluations per task)."""
    cycle: int = 0
    """Task t uses slot `t mod cycle` (head and cached wiring); 0: a slot per task. The
    published Brax code uses 4, and 2 in the robustness scenarios."""
    reference_rewards: tuple[float, ...] = ()
    """Per-task reward of SAC-N at the same budget, to normalise performance."""
    reference_aucs: tuple[float, ...] = ()
    """Per-task AUC of single-task training (normalised), for forward transfer."""
    eval_envs: int = 512
    eval_rollouts: int = 10
    """Evaluation episodes = eval_envs x eval_rollouts (deterministic policy)."""
    evals_per_task: int = 10
    """Evaluations of the training task during its training (reward curves, AUC) at
    full budget. A budget_scale below 1 shrinks them with it (never below two per
    task): see `eval_points`."""
    backend: Literal["generalized", "positional", "spring", "mjx"] = "generalized"
    """brax pipeline for the brax domains."""
    success: SuccessMode = "any_step"
    """Meta-World: an episode is a success if info["success"] is raised at any step
    (Continual World's definition) or at its last step (the published Rewire/CSP code's).
    Meta-World tasks are scored by success rate, the other domains by return."""

    def __post_init__(self):
        from rewire_eqx.envs.domains import DOMAINS, check_task

        if self.domain not in DOMAINS:
            _fail(self, "domain", self.domain, f"valid choices: {list(DOMAINS)}")
        if not isinstance(self.tasks, tuple) or not self.tasks:
            _fail(self, "tasks", self.tasks, "expected a non-empty tuple of task names")
        for task in self.tasks:
            try:
                check_task(self.domain, task)
            except ValueError as error:
                raise ValueError(f"ScenarioSpec.tasks: {error}") from None
        if self.success not in get_args(SuccessMode):
            _fail(
                self,
                "success",
                self.success,
                f"valid choices: {list(get_args(SuccessMode))}",
            )
        for field in ("steps_per_task", "eval_envs", "eval_rollouts", "evals_per_task"):
            _positive_int(self, field)
        _positive_int(self, "cycle", minimum=0)
        _number(self, "budget_scale", positive=True)
        for field in ("reference_rewards", "reference_aucs"):
            values = getattr(self, field)
            if values and len(values) != len(self.tasks):
                _fail(self, field, values, f"expected {len(self.tasks)} values or none")

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def score(self) -> str:
        """What evaluations measure (one of `sac.SCORES`)."""
        if self.domain == "metaworld":
            return f"success_{self.success}"
        return "return"

    @property
    def eval_points(self) -> int:
        """Evaluations per task during training: `evals_per_task`, shrunk by a
        `budget_scale` below 1 (rounded up, at least 2), so a scenario shrunk to a few
        thousand steps does not spend most of its time evaluating."""
        if self.budget_scale >= 1:
            return self.evals_per_task
        shrunk = math.ceil(self.evals_per_task * self.budget_scale - 1e-9)
        return min(self.evals_per_task, max(2, shrunk))

    @property
    def task_steps(self) -> int:
        """Environment steps per task after `budget_scale`."""
        return max(1, int(round(self.steps_per_task * self.budget_scale)))


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a run needs: method, scenario, learner, networks and losses."""

    name: str = "run"
    """Name of the run (the run folder's parent)."""
    seed: int = 0
    """Seed of every random choice of the run."""
    method: MethodSpec = MethodSpec()
    scenario: ScenarioSpec = ScenarioSpec()
    sac: SACSpec = SACSpec()
    network: NetworkSpec = NetworkSpec()
    """The actor's body."""
    permutation: PermutationSpec = PermutationSpec()
    losses: LossSpec = LossSpec()
    task_heads: bool = True
    """One actor head per task (the paper) instead of one shared head."""
    chunk_steps: int = 0
    """Env steps per compiled training call (0: steps per task / ScenarioSpec.eval_points)."""
    checkpoint_every_steps: int = 50_000
    """Write a mid-task checkpoint (train state, replay buffer, env states, keys, the
    partial curve) at the end of a chunk once this many env steps have passed since the
    last one; `run --resume` continues from it exactly. 0: only after each task."""
    output_dir: str = "runs"
    """Where run folders are created."""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            _fail(self, "name", self.name, "expected a non-empty string without '/'")
        _positive_int(self, "seed", minimum=0)
        _positive_int(self, "chunk_steps", minimum=0)
        _positive_int(self, "checkpoint_every_steps", minimum=0)
        if self.scenario.task_steps < self.sac.num_envs:
            _fail(
                self,
                "scenario.budget_scale",
                self.scenario.budget_scale,
                f"the task budget ({self.scenario.task_steps} steps) is below one round of "
                f"{self.sac.num_envs} envs",
            )

    def policy_spec(self, obs_size: int, action_size: int) -> PolicySpec:
        """The actor's `PolicySpec` for a domain's sizes."""
        permutation = self.permutation
        if not self.method.multi_mode:
            permutation = dataclasses.replace(permutation, num_modes=1)
        return PolicySpec(
            in_size=obs_size,
            out_size=2 * action_size,
            num_tasks=self.scenario.num_tasks,
            task_heads=self.task_heads,
            cycle=self.scenario.cycle,
            rewire=self.method.rewires,
            network=self.network,
            permutation=permutation,
        )

    @property
    def sac_for_run(self) -> SACSpec:
        """The SAC spec with the method's distillation weight and the scaled warm-up."""
        scale = self.scenario.budget_scale
        losses = self.losses
        rewires = self.method.rewires
        distill = losses.distill_alpha * losses.distill_states if rewires else 0.0
        return dataclasses.replace(
            self.sac,
            distill_alpha=distill,
            learning_starts=int(round(self.sac.learning_starts * min(scale, 1.0))),
            start_steps=int(round(self.sac.start_steps * min(scale, 1.0))),
        )


@functools.singledispatch
def build(spec: object, *, key: PRNGKeyArray):
    """Turn a spec into Equinox modules (one path for every spec that builds)."""
    raise TypeError(f"build: no builder for {type(spec).__name__}")


@build.register
def _(spec: PolicySpec, *, key: PRNGKeyArray) -> AbstractPolicyNet:
    p = spec.permutation
    body = PlainMLP(
        spec.in_size,
        spec.network.hidden_sizes,
        spec.out_size,
        num_heads=spec.num_heads,
        activation=spec.network.activation,
        first_layer_norm=spec.network.first_layer_norm,
        dropout=p.dropout if spec.rewire else 0.0,
        key=key,
    )
    if not spec.rewire:
        return body
    return RewiredMLP(
        body,
        num_modes=p.num_modes,
        num_slots=spec.num_slots,
        tau=p.tau,
        noise_scale=p.noise_scale,
        adapter_tau=p.adapter_tau,
        adapter_form=p.adapter_form,
        noisy_forward=p.noisy_forward,
    )


def spec_to_dict(spec: object) -> dict:
    """A JSON-ready dict of a spec (tuples become lists)."""
    return dataclasses.asdict(spec)


def spec_from_dict(cls: type, data: dict):
    """Rebuild a spec dataclass from `spec_to_dict`'s output (validated again)."""
    import typing

    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = spec_from_dict(hint, value)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
