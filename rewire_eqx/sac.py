"""The fused SAC learner: collection and updates in one jitted `lax.scan`.

One *round* steps every environment once, then runs `updates_per_round` gradient
updates (critic updates, with one actor + temperature update every
`policy_update_delay` of them). `train_chunk` runs many rounds in one compiled call and
returns per-chunk metrics; several seeds are a `vmap` axis of the same program
(`train_chunk_seeds`). The actor is any `AbstractPolicyNet`: with a `RewiredMLP`, each
collection step and each update samples one of the K modes, and the actor loss adds the
distillation between modes (Eq. 6); a method adds its own term through an
`AbstractRegulariser` without touching this module.

Stochasticity of a rewired actor, as in the published code: Gumbel noise enters the
scores only in the SoftSort pass of gradient updates (the trained mode of the actor
update and the next action of the critic target); Dropout on the hidden linear outputs,
where the actor has it, acts in collection and in every update pass; evaluation uses
neither.
"""

from __future__ import annotations

import collections
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PRNGKeyArray, PyTree

from rewire_eqx import losses
from rewire_eqx.envs.base import AbstractVecEnv, EnvState
from rewire_eqx.networks import AbstractPolicyFn, AbstractPolicyNet, PlainMLP, RewiredMLP
from rewire_eqx.replay import ReplayBuffer, Transition
from rewire_eqx.specs import SACSpec

__all__ = [
    "SCORES",
    "LOSS_FIELDS",
    "TRACE_FIELDS",
    "ChunkMetrics",
    "Learner",
    "TrainState",
    "begin_task",
    "evaluate",
    "evaluate_rollouts",
    "init_state",
    "trace_counts",
    "trace_segments",
    "train_chunk",
    "train_chunk_seeds",
    "train_updates",
    "warmup",
]

_TRACES: collections.Counter[str] = collections.Counter()


def trace_counts() -> dict[str, int]:
    """How many times each jitted learner function has been traced (retrace guard)."""
    return dict(_TRACES)


class Learner(eqx.Module):
    """Static configuration of a learner: the SAC spec and the environments."""

    spec: SACSpec = eqx.field(static=True)
    env: AbstractVecEnv

    def __check_init__(self):
        if self.env.num_envs != self.spec.num_envs:
            raise ValueError(
                f"env has {self.env.num_envs} environments but SACSpec.num_envs="
                f"{self.spec.num_envs}"
            )

    @property
    def target_entropy(self) -> float:
        return self.spec.target_entropy_scale * self.env.action_size


class TrainState(eqx.Module):
    """Everything that changes during training (one seed)."""

    actor: AbstractPolicyNet
    critic: PlainMLP  # twin critics stacked on a leading axis of 2
    target_critic: PlainMLP
    log_alpha: Float[Array, ""]
    actor_opt: PyTree
    critic_opt: PyTree
    alpha_opt: PyTree
    buffer: ReplayBuffer
    env: EnvState
    head: Int[Array, ""]
    env_steps: Int[Array, ""]
    updates: Int[Array, ""]
    key: PRNGKeyArray


class ChunkMetrics(eqx.Module):
    """Training metrics of one chunk (means over its updates, sums over its episodes)."""

    critic_loss: Float[Array, ""]
    actor_loss: Float[Array, ""]
    temperature: Float[Array, ""]
    entropy: Float[Array, ""]
    mode_divergence: Float[Array, ""]
    regulariser: Float[Array, ""]
    q_mean: Float[Array, ""]
    episode_return_sum: Float[Array, ""]
    episodes: Float[Array, ""]
    env_steps: Int[Array, ""]
    trace: Float[Array, "segments fields"]
    """The chunk cut into `trace_segments(num_rounds)` equal spans of rounds, one row
    per span: `TRACE_FIELDS` (loss means over the span's updates, the episode return
    summed and the episodes counted over its rounds, its last env step)."""


LOSS_FIELDS = (
    "critic_loss",
    "actor_loss",
    "temperature",
    "entropy",
    "mode_divergence",
    "regulariser",
    "q_mean",
)
"""The per-update statistics of a chunk, in the order `_update_block` stacks them."""

TRACE_FIELDS = (*LOSS_FIELDS, "episode_return_sum", "episodes", "env_steps")
"""Columns of `ChunkMetrics.trace`: the training curve inside a chunk."""

MAX_TRACE_SEGMENTS = 10


def trace_segments(num_rounds: int) -> int:
    """Spans a chunk of `num_rounds` rounds is cut into for its trace: the largest
    divisor of `num_rounds` that is at most `MAX_TRACE_SEGMENTS`."""
    return max(d for d in range(1, MAX_TRACE_SEGMENTS + 1) if num_rounds % d == 0)


def _wiring_labels(params):
    """'wiring' for score vectors and adapters of a rewired actor, 'weights' elsewhere."""
    labels = jax.tree.map(lambda _: "weights", params)
    if isinstance(params, RewiredMLP):
        labels = eqx.tree_at(
            lambda a: (a.scores, a.adapter_out, a.adapter_in),
            labels,
            replace_fn=lambda subtree: jax.tree.map(lambda _: "wiring", subtree),
        )
    return labels


def _optimisers(spec: SACSpec):
    actor = optax.adam(spec.actor_lr)
    if spec.wiring_lr:
        actor = optax.multi_transform(
            {"weights": actor, "wiring": optax.adam(spec.wiring_lr)}, _wiring_labels
        )
    return actor, optax.adam(spec.critic_lr), optax.adam(spec.alpha_lr)


def _params(tree):
    return eqx.filter(tree, eqx.is_inexact_array)


def make_critic(spec: SACSpec, obs_size: int, action_size: int, *, key) -> PlainMLP:
    """Twin critics Q(s, a) stacked on a leading axis of 2."""
    network = spec.critic

    def one(k):
        return PlainMLP(
            obs_size + action_size,
            network.hidden_sizes,
            1,
            num_heads=1,
            activation=network.activation,
            first_layer_norm=network.first_layer_norm,
            key=k,
        )

    return eqx.filter_vmap(one)(jax.random.split(key, 2))


def init_state(
    learner: Learner, actor: AbstractPolicyNet, *, key: PRNGKeyArray
) -> TrainState:
    """A fresh train state for `actor`: new critics, optimisers, buffer and envs."""
    spec, env = learner.spec, learner.env
    critic_key, env_key, key = jax.random.split(key, 3)
    critic = make_critic(spec, env.obs_size, env.action_size, key=critic_key)
    actor_opt, critic_opt, alpha_opt = _optimisers(spec)
    log_alpha = jnp.log(jnp.asarray(spec.init_temperature, jnp.float32))
    return TrainState(
        actor=actor,
        critic=critic,
        target_critic=critic,
        log_alpha=log_alpha,
        actor_opt=actor_opt.init(_params(actor)),
        critic_opt=critic_opt.init(_params(critic)),
        alpha_opt=alpha_opt.init(log_alpha),
        buffer=ReplayBuffer.empty(spec.buffer_size, env.obs_size, env.action_size),
        env=env.reset(env_key),
        head=jnp.zeros((), jnp.int32),
        env_steps=jnp.zeros((), jnp.int32),
        updates=jnp.zeros((), jnp.int32),
        key=key,
    )


def begin_task(
    learner: Learner,
    actor: AbstractPolicyNet,
    *,
    head: int | Int[Array, ""],
    key: PRNGKeyArray,
    critic: PlainMLP | None = None,
) -> TrainState:
    """State for a new task: the given actor trained on head `head`, fresh optimisers
    (so frozen heads stay frozen), the temperature at its initial value, an empty buffer
    and reset envs. With `critic`, the critics carried from the previous task continue
    (their target copies restart from them); otherwise new critics."""
    state = init_state(learner, actor, key=key)
    if critic is not None:
        state = dataclasses.replace(
            state,
            critic=critic,
            target_critic=critic,
            critic_opt=_optimisers(learner.spec)[1].init(_params(critic)),
        )
    return dataclasses.replace(state, head=jnp.asarray(head, jnp.int32))


# ------------------------------------------------------------------ the policy


def _policy_out(
    policy: AbstractPolicyFn,
    obs: Float[Array, "batch obs"],
    head,
    dropout_key: PRNGKeyArray | None = None,
) -> Array:
    """The policy's head outputs on a batch; with `dropout_key` (a `PlainMLP` with
    Dropout, during training), every sample has its own masks, all from one draw."""
    if dropout_key is None:
        return jax.vmap(lambda o: policy(o, head=head))(obs)
    assert isinstance(policy, PlainMLP)
    keep = policy.dropout_masks(dropout_key, (obs.shape[0],))
    return jax.vmap(lambda o, m: policy(o, head=head, keep=m))(obs, keep)


def _dropout_key(actor: AbstractPolicyNet, key: PRNGKeyArray) -> PRNGKeyArray | None:
    """`key` when the actor has Dropout (a rewired actor with a rate > 0), else None."""
    if isinstance(actor, RewiredMLP) and actor.dropout > 0:
        return key
    return None


def _sample_mode(num_modes: int, key: PRNGKeyArray) -> Int[Array, ""]:
    return jax.random.randint(key, (), 0, num_modes)


def _other_mode(mode: Int[Array, ""], num_modes: int, key: PRNGKeyArray) -> Int[Array, ""]:
    """A mode different from `mode`, uniformly (K > 1)."""
    return (mode + jax.random.randint(key, (), 1, num_modes)) % num_modes


def _act(
    actor: AbstractPolicyNet, obs: Float[Array, "envs obs"], head, *, key: PRNGKeyArray
) -> Float[Array, "envs act"]:
    """Collection: one mode for all layers and envs, its hard order without Gumbel noise
    (Dropout acts where the actor has it)."""
    mode_key, dropout_key, sample_key = jax.random.split(key, 3)
    mode = _sample_mode(actor.num_modes, mode_key)
    mean, log_std = losses.gaussian_head(
        _policy_out(actor.with_mode(mode), obs, head, _dropout_key(actor, dropout_key))
    )
    action, _ = losses.sample_tanh_gaussian(mean, log_std, key=sample_key)
    return action


# ------------------------------------------------------------------- collection


def _collect(learner: Learner, state: TrainState) -> tuple[TrainState, tuple[Array, Array]]:
    spec, env = learner.spec, learner.env
    key, act_key, uniform_key = jax.random.split(state.key, 3)
    uniform = jax.random.uniform(
        uniform_key, (env.num_envs, env.action_size), minval=-1.0, maxval=1.0
    )
    policy = _act(state.actor, state.env.obs, state.head, key=act_key)
    action = jnp.where(state.env_steps < spec.start_steps, uniform, policy)
    env_state, result = env.step(state.env, action)
    ends = result.terminated if spec.bootstrap_at_truncation else result.done
    transition = Transition(
        obs=state.env.obs,
        action=action,
        reward=result.reward,
        next_obs=result.next_obs,
        terminated=ends.astype(jnp.float32),
    )
    state = dataclasses.replace(
        state,
        env=env_state,
        buffer=state.buffer.add(transition),
        env_steps=state.env_steps + env.num_envs,
        key=key,
    )
    finished = result.done.astype(jnp.float32)
    return state, (jnp.sum(result.episode_return), jnp.sum(finished))


# --------------------------------------------------------------------- updates


def _critic_update(learner: Learner, state: TrainState, key: PRNGKeyArray):
    spec = learner.spec
    sample_key, mode_key, noise_key, dropout_key, next_key = jax.random.split(key, 5)
    batch = state.buffer.sample(sample_key, spec.batch_size)
    actor = state.actor
    mode = _sample_mode(actor.num_modes, mode_key)
    mean, log_std = losses.gaussian_head(
        _policy_out(
            actor.with_mode(mode, key=noise_key),
            batch.next_obs,
            state.head,
            _dropout_key(actor, dropout_key),
        )
    )
    next_action, next_log_prob = losses.sample_tanh_gaussian(mean, log_std, key=next_key)
    next_q = losses.twin_q(state.target_critic, batch.next_obs, next_action)
    target = losses.td_target(
        batch.reward,
        batch.terminated,
        next_q,
        next_log_prob,
        temperature=jnp.exp(state.log_alpha),
        discount=spec.discount,
        reward_scale=spec.reward_scale,
    )

    def loss_fn(critic):
        q = losses.twin_q(critic, batch.obs, batch.action)
        return 0.5 * jnp.sum(jnp.mean((q - target[None]) ** 2, axis=1)), q

    (loss, q), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(state.critic)
    optimiser = _optimisers(spec)[1]
    updates, critic_opt = optimiser.update(grads, state.critic_opt, _params(state.critic))
    critic = eqx.apply_updates(state.critic, updates)
    count = state.updates + 1
    due = count % spec.target_update_delay == 0
    smoothing = spec.target_smoothing

    def polyak(target, online):
        if not eqx.is_inexact_array(online):
            return target
        return jnp.where(due, (1 - smoothing) * target + smoothing * online, target)

    target_critic = jax.tree.map(polyak, state.target_critic, critic)
    state = dataclasses.replace(
        state,
        critic=critic,
        critic_opt=critic_opt,
        target_critic=target_critic,
        updates=count,
    )
    return state, loss, jnp.mean(q)


def _actor_update(
    learner: Learner,
    state: TrainState,
    regulariser: losses.AbstractRegulariser,
    key: PRNGKeyArray,
):
    spec = learner.spec
    keys = jax.random.split(key, 7)
    sample_key, mode_key, other_key, noise_key, dropout_key, other_dropout_key = keys[:6]
    action_key = keys[6]
    obs = state.buffer.sample(sample_key, spec.batch_size).obs
    num_modes = state.actor.num_modes
    mode = _sample_mode(num_modes, mode_key)
    temperature = jnp.exp(state.log_alpha)

    if num_modes > 1:
        # the distillation target (Eq. 6): the other mode's outputs, hard order without
        # noise (as in collection), Dropout on; no gradient flows through them, so they
        # are computed outside the differentiated loss
        other = _other_mode(mode, num_modes, other_key)
        other_out = losses.gaussian_head(
            _policy_out(
                state.actor.with_mode(other),
                obs,
                state.head,
                _dropout_key(state.actor, other_dropout_key),
            )
        )

    def loss_fn(actor):
        mean, log_std = losses.gaussian_head(
            _policy_out(
                actor.with_mode(mode, key=noise_key),
                obs,
                state.head,
                _dropout_key(actor, dropout_key),
            )
        )
        action, log_prob = losses.sample_tanh_gaussian(mean, log_std, key=action_key)
        q = jnp.min(losses.twin_q(state.critic, obs, action), axis=0)
        sac = jnp.mean(jax.lax.stop_gradient(temperature) * log_prob - q)
        if num_modes > 1:
            divergence = losses.distillation_loss(mean, log_std, *other_out)
        else:
            divergence = jnp.zeros(())
        extra = regulariser(actor)
        total = sac + spec.distill_alpha * divergence + extra
        return total, (sac, log_prob, divergence, extra)

    (_, (sac, log_prob, divergence, extra)), grads = eqx.filter_value_and_grad(
        loss_fn, has_aux=True
    )(state.actor)
    actor_optimiser, _, alpha_optimiser = _optimisers(spec)
    updates, actor_opt = actor_optimiser.update(
        grads, state.actor_opt, _params(state.actor)
    )
    actor = eqx.apply_updates(state.actor, updates)
    log_alpha, alpha_opt = state.log_alpha, state.alpha_opt
    if spec.autotune_temperature:
        alpha_grad = jax.grad(losses.alpha_loss)(
            state.log_alpha, log_prob, learner.target_entropy
        )
        alpha_updates, alpha_opt = alpha_optimiser.update(alpha_grad, state.alpha_opt)
        log_alpha = optax.apply_updates(state.log_alpha, alpha_updates)
    state = dataclasses.replace(
        state, actor=actor, actor_opt=actor_opt, log_alpha=log_alpha, alpha_opt=alpha_opt
    )
    stats = (sac, -jnp.mean(log_prob), divergence, extra)
    return state, stats


def _update_block(learner, state, regulariser):
    """`policy_update_delay` critic updates, then one actor + temperature update."""
    critic_losses, q_means = [], []
    for _ in range(learner.spec.policy_update_delay):
        key, update_key = jax.random.split(state.key)
        state = dataclasses.replace(state, key=key)
        state, loss, q_mean = _critic_update(learner, state, update_key)
        critic_losses.append(loss)
        q_means.append(q_mean)
    key, update_key = jax.random.split(state.key)
    state = dataclasses.replace(state, key=key)
    state, (actor_loss, entropy, divergence, extra) = _actor_update(
        learner, state, regulariser, update_key
    )
    stats = jnp.stack(
        [
            jnp.mean(jnp.stack(critic_losses)),
            actor_loss,
            jnp.exp(state.log_alpha),
            entropy,
            divergence,
            extra,
            jnp.mean(jnp.stack(q_means)),
        ]
    )
    return state, stats


def _round(learner, state, regulariser):
    state, (return_sum, episodes) = _collect(learner, state)
    blocks = learner.spec.updates_per_round // learner.spec.policy_update_delay

    def block(state, _):
        return _update_block(learner, state, regulariser)

    state, stats = jax.lax.scan(block, state, length=blocks)
    return state, (jnp.mean(stats, axis=0), return_sum, episodes)


# -------------------------------------------------------------- jitted entries


def _train_chunk(
    learner: Learner,
    state: TrainState,
    regulariser: losses.AbstractRegulariser,
    num_rounds: int,
) -> tuple[TrainState, ChunkMetrics]:
    _TRACES["train_chunk"] += 1

    def body(state, _):
        return _round(learner, state, regulariser)

    start_steps = state.env_steps
    state, (stats, return_sums, episodes) = jax.lax.scan(body, state, length=num_rounds)
    mean = jnp.mean(stats, axis=0)
    segments = trace_segments(num_rounds)
    span = num_rounds // segments
    span_steps = start_steps + learner.env.num_envs * span * jnp.arange(1, segments + 1)
    trace = jnp.concatenate(
        [
            jnp.mean(stats.reshape(segments, span, -1), axis=1),
            jnp.sum(return_sums.reshape(segments, span), axis=1)[:, None],
            jnp.sum(episodes.reshape(segments, span), axis=1)[:, None],
            span_steps.astype(jnp.float32)[:, None],
        ],
        axis=1,
    )
    metrics = ChunkMetrics(
        critic_loss=mean[0],
        actor_loss=mean[1],
        temperature=mean[2],
        entropy=mean[3],
        mode_divergence=mean[4],
        regulariser=mean[5],
        q_mean=mean[6],
        episode_return_sum=jnp.sum(return_sums),
        episodes=jnp.sum(episodes),
        env_steps=state.env_steps,
        trace=trace,
    )
    return state, metrics


def _warmup(learner: Learner, state: TrainState, num_rounds: int) -> TrainState:
    _TRACES["warmup"] += 1

    def body(state, _):
        state, _ = _collect(learner, state)
        return state, None

    state, _ = jax.lax.scan(body, state, length=num_rounds)
    return state


train_chunk = eqx.filter_jit(_train_chunk)
"""`train_chunk(learner, state, regulariser, num_rounds) -> (state, ChunkMetrics)`:
`num_rounds` rounds of collection + updates, in one compiled call."""


def _train_updates(
    learner: Learner,
    state: TrainState,
    regulariser: losses.AbstractRegulariser,
    num_blocks: int,
) -> TrainState:
    """`num_blocks` update blocks from the replay buffer, without stepping the envs."""
    _TRACES["train_updates"] += 1

    def block(state, _):
        state, _ = _update_block(learner, state, regulariser)
        return state, None

    state, _ = jax.lax.scan(block, state, length=num_blocks)
    return state


train_updates = eqx.filter_jit(_train_updates)
"""`train_updates(learner, state, regulariser, num_blocks) -> state`: gradient updates
only (each block: `policy_update_delay` critic updates and one actor update)."""

warmup = eqx.filter_jit(_warmup)
"""`warmup(learner, state, num_rounds) -> state`: fill the buffer until learning starts
(no updates): uniform random actions for the first `start_steps` transitions, then the
current policy (the published code's Brax set-up: only the first env step is random)."""


def _train_chunk_seeds(learner, states, regularisers, num_rounds):
    _TRACES["train_chunk_seeds"] += 1
    return eqx.filter_vmap(
        lambda s, r: _train_chunk(learner, s, r, num_rounds), in_axes=(0, 0)
    )(states, regularisers)


train_chunk_seeds = eqx.filter_jit(_train_chunk_seeds)
"""`train_chunk` with a leading seed axis on the states and regularisers (`vmap`)."""

warmup_seeds = eqx.filter_jit(
    lambda learner, states, num_rounds: eqx.filter_vmap(
        lambda s: _warmup(learner, s, num_rounds)
    )(states)
)


def warmup_rounds(learner: Learner) -> int:
    """Rounds of random collection before learning starts."""
    spec = learner.spec
    return -(-spec.learning_starts // spec.num_envs)


# ------------------------------------------------------------------ evaluation


SCORES = ("return", "success_any_step", "success_last_step")
"""What an evaluation measures per episode: its return; or whether the task's success
flag was raised at any step (Continual World's definition) or at its last step (the
published Rewire/CSP code's)."""


def _evaluate(
    env: AbstractVecEnv,
    policy: AbstractPolicyFn,
    head: Int[Array, ""] | int,
    key: PRNGKeyArray,
    score: str = "return",
) -> Float[Array, " envs"]:
    """One episode per environment under the deterministic policy tanh(mean): its
    return, or its success (1.0 / 0.0) by `score`."""
    _TRACES["evaluate"] += 1
    if score not in SCORES:
        raise ValueError(f"score={score!r} is invalid; valid choices: {list(SCORES)}")
    state = env.reset(key)

    def step(carry, _):
        state, total, alive, any_success, last_success = carry
        mean, _ = losses.gaussian_head(_policy_out(policy, state.obs, head))
        state, result = env.step(state, jnp.tanh(mean))
        success = result.success.astype(jnp.float32)
        total = total + alive * result.reward
        any_success = jnp.maximum(any_success, alive * success)
        ends = alive * result.done.astype(jnp.float32)
        last_success = jnp.where(ends > 0, success, last_success)
        alive = alive * (1.0 - result.done.astype(jnp.float32))
        return (state, total, alive, any_success, last_success), None

    zeros = jnp.zeros(env.num_envs)
    init = (state, zeros, jnp.ones(env.num_envs), zeros, zeros)
    (_, total, _, any_success, last_success), _ = jax.lax.scan(
        step, init, length=env.episode_length
    )
    return {
        "return": total,
        "success_any_step": any_success,
        "success_last_step": last_success,
    }[score]


evaluate = eqx.filter_jit(_evaluate)
"""`evaluate(env, policy, head, key, score="return") -> per-env scores`: one
deterministic episode per env."""


def _evaluate_rollouts(
    env: AbstractVecEnv,
    policy: AbstractPolicyFn,
    head: Int[Array, ""] | int,
    keys: Key[Array, " rollouts"],
    score: str = "return",
) -> Float[Array, ""]:
    """Mean score over `len(keys)` rollouts of every env, run one after the other
    (`lax.map`) inside one compiled call."""
    _TRACES["evaluate_rollouts"] += 1
    scores = jax.lax.map(lambda key: _evaluate(env, policy, head, key, score), keys)
    return jnp.mean(scores)


evaluate_rollouts = eqx.filter_jit(_evaluate_rollouts)
"""`evaluate_rollouts(env, policy, head, keys, score="return") -> mean score` over
rollouts and envs (`score`: one of `SCORES`)."""
