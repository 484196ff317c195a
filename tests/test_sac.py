"""SAC with known answers: probe environments, NumPy restatements, a pendulum to learn."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rewire_eqx import losses, sac
from rewire_eqx import permutation as perm
from rewire_eqx.envs import (
    ConstantRewardProbe,
    JaxVecEnv,
    Pendulum,
    SignProbe,
    TwoStepProbe,
)
from rewire_eqx.networks import alignment_loss
from rewire_eqx.replay import ReplayBuffer, Transition
from rewire_eqx.scenarios import quick_run
from rewire_eqx.specs import NetworkSpec, PermutationSpec, PolicySpec, SACSpec, build

SMALL = NetworkSpec(hidden_sizes=(32, 32))


def _probe_spec(**overrides) -> SACSpec:
    base = dict(
        num_envs=8,
        episode_length=10,
        batch_size=64,
        buffer_size=4096,
        learning_starts=64,
        start_steps=64,
        updates_per_step=1.0,
        policy_update_delay=2,
        actor_lr=3e-3,
        critic_lr=3e-3,
        alpha_lr=3e-3,
        critic=SMALL,
    )
    base.update(overrides)
    return SACSpec(**base)


def _setup(env, spec, *, rewire=False, num_modes=1, seed=0, num_tasks=1, noise_scale=0.1):
    learner = sac.Learner(
        spec, JaxVecEnv(env, num_envs=spec.num_envs, episode_length=spec.episode_length)
    )
    policy = PolicySpec(
        in_size=env.obs_size,
        out_size=2 * env.action_size,
        num_tasks=num_tasks,
        rewire=rewire,
        network=SMALL,
        permutation=PermutationSpec(num_modes=num_modes, noise_scale=noise_scale),
    )
    actor = build(policy, key=jax.random.key(seed))
    state = sac.init_state(learner, actor, key=jax.random.key(seed + 1))
    state = sac.warmup(learner, state, sac.warmup_rounds(learner))
    return learner, state


def _q(state, obs, action):
    return np.asarray(losses.twin_q(state.critic, jnp.asarray(obs), jnp.asarray(action)))


# ----------------------------------------------------------------- probes


def test_one_step_constant_reward_q_converges_to_the_reward():
    learner, state = _setup(ConstantRewardProbe(), _probe_spec())
    state, _ = sac.train_chunk(learner, state, losses.NoRegulariser(), 150)
    actions = np.linspace(-1, 1, 9)[:, None]
    q = _q(state, np.zeros((9, 1)), actions)
    np.testing.assert_allclose(q, 1.0, atol=0.05)


def test_two_step_q_reflects_the_discount():
    spec = _probe_spec(discount=0.5, autotune_temperature=False, init_temperature=1e-6)
    learner, state = _setup(TwoStepProbe(), spec)
    state, _ = sac.train_chunk(learner, state, losses.NoRegulariser(), 250)
    actions = np.linspace(-1, 1, 5)[:, None]
    np.testing.assert_allclose(_q(state, np.ones((5, 1)), actions), 1.0, atol=0.05)
    np.testing.assert_allclose(_q(state, np.zeros((5, 1)), actions), 0.5, atol=0.05)


@pytest.mark.parametrize(("rewire", "num_modes"), [(False, 1), (True, 3)])
def test_action_dependent_reward_policy_learns_the_sign(rewire, num_modes):
    spec = _probe_spec(distill_alpha=1e-3 if rewire else 0.0)
    learner, state = _setup(SignProbe(), spec, rewire=rewire, num_modes=num_modes)
    state, _ = sac.train_chunk(learner, state, losses.NoRegulariser(), 150)
    for mode in range(num_modes):
        policy = state.actor.with_mode(mode)
        mean, _ = losses.gaussian_head(jax.vmap(policy)(jnp.array([[1.0], [-1.0]])))
        action = np.tanh(np.asarray(mean))[:, 0]
        assert action[0] > 0.5 and action[1] < -0.5, (mode, action)


@pytest.mark.parametrize(("scale", "direction"), [(-2.0, -1), (2.0, 1)])
def test_temperature_moves_toward_the_target_entropy(scale, direction):
    """A target below the policy's entropy lowers alpha; an unreachable one raises it
    (a tanh-Gaussian in 1-D has entropy at most log 2 < 2)."""
    spec = _probe_spec(target_entropy_scale=scale, init_temperature=1.0)
    learner, state = _setup(ConstantRewardProbe(), spec)
    state, metrics = sac.train_chunk(learner, state, losses.NoRegulariser(), 40)
    alpha = float(jnp.exp(state.log_alpha))
    assert (alpha - 1.0) * direction > 0.05, alpha
    if direction < 0:
        assert float(metrics.entropy) > scale  # still above target: alpha keeps falling


# ----------------------------------------------------------- multi-mode


def test_distillation_is_zero_when_all_modes_share_one_wiring():
    actor_update = eqx.filter_jit(sac._actor_update)
    spec = _probe_spec(distill_alpha=1.0)
    # identical (identity) scores in every mode and no noise: one shared wiring
    learner, state = _setup(SignProbe(), spec, rewire=True, num_modes=3, noise_scale=0.0)
    actor = state.actor
    _, (_, _, divergence, _) = actor_update(
        learner, state, losses.NoRegulariser(), jax.random.key(0)
    )
    assert float(divergence) == 0.0
    scores = tuple(
        jax.random.uniform(jax.random.key(i), s.shape) for i, s in enumerate(actor.scores)
    )
    state = dataclasses.replace(state, actor=eqx.tree_at(lambda a: a.scores, actor, scores))
    _, (_, _, divergence, _) = actor_update(
        learner, state, losses.NoRegulariser(), jax.random.key(0)
    )
    assert float(divergence) > 0.0


def test_distillation_loss_matches_numpy_and_blocks_the_other_gradient():
    rng = np.random.default_rng(0)
    m, s, om, os_ = (jnp.asarray(rng.normal(size=(7, 3)), jnp.float32) for _ in range(4))
    expected = np.mean(
        np.sum(
            (np.asarray(m) - np.asarray(om)) ** 2 + (np.asarray(s) - np.asarray(os_)) ** 2,
            axis=1,
        )
    )
    np.testing.assert_allclose(losses.distillation_loss(m, s, om, os_), expected, rtol=1e-5)
    grads = jax.grad(losses.distillation_loss, argnums=(0, 2))(m, s, om, os_)
    assert float(jnp.abs(grads[0]).sum()) > 0 and float(jnp.abs(grads[1]).sum()) == 0.0
    # the other mode's mean is clipped to [-20, 20] (as published)
    far = om.at[0, 0].set(35.0).at[1, 1].set(-50.0)
    clipped = np.clip(np.asarray(far), -20, 20)
    expected = np.mean(
        np.sum((np.asarray(m) - clipped) ** 2 + (np.asarray(s) - np.asarray(os_)) ** 2, 1)
    )
    np.testing.assert_allclose(
        losses.distillation_loss(m, s, far, os_), expected, rtol=1e-5
    )


def test_the_distillation_weight_is_alpha_times_the_published_512_states():
    spec = quick_run()
    assert spec.losses.distill_states == 512
    assert spec.sac_for_run.distill_alpha == pytest.approx(spec.losses.distill_alpha * 512)
    other = dataclasses.replace(spec, method=dataclasses.replace(spec.method, name="ft1"))
    assert other.sac_for_run.distill_alpha == 0.0


# ------------------------------------------------------------- NumPy oracles


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    mean = jnp.array([[0.3, -1.2], [2.0, 0.1]])
    log_std = jnp.array([[-0.5, 0.2], [0.0, -1.0]])
    action, log_prob = losses.sample_tanh_gaussian(mean, log_std, key=jax.random.key(0))
    a = np.asarray(action, np.float64)
    u = np.arctanh(a)
    std = np.exp(np.asarray(log_std, np.float64))
    gaussian = (
        -0.5 * ((u - np.asarray(mean)) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    )
    expected = np.sum(gaussian - np.log(1 - a**2), axis=1)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-4, atol=1e-4)


def test_log_std_is_clipped_to_the_paper_range():
    _, log_std = losses.gaussian_head(jnp.array([0.0, 0.0, -50.0, 50.0]))
    np.testing.assert_array_equal(log_std, [-20.0, 2.0])


def test_td_target_bootstraps_unless_terminated():
    target = losses.td_target(
        jnp.array([1.0, 1.0]),
        jnp.array([0.0, 1.0]),
        jnp.array([[5.0, 5.0], [3.0, 3.0]]),
        jnp.array([0.5, 0.5]),
        temperature=jnp.asarray(2.0),
        discount=0.9,
        reward_scale=2.0,
    )
    np.testing.assert_allclose(target, [2.0 + 0.9 * (3.0 - 2.0 * 0.5), 2.0], rtol=1e-6)


def test_truncation_is_not_termination_and_auto_resets():
    env = JaxVecEnv(Pendulum(), num_envs=3, episode_length=4)
    state = env.reset(jax.random.key(0))
    total = np.zeros(3)
    for step in range(1, 9):
        state, result = env.step(state, jnp.zeros((3, 1)))
        total += np.asarray(result.reward)
        assert not bool(result.terminated.any())
        assert bool(result.truncated.all()) == (step % 4 == 0)
        if step % 4 == 0:
            np.testing.assert_array_equal(state.obs, state.start_obs)
            np.testing.assert_allclose(result.episode_return, total, rtol=1e-5)
            total[:] = 0.0
        else:
            np.testing.assert_array_equal(result.episode_return, 0.0)


def test_replay_ring_buffer_wraps_and_samples_only_filled_rows():
    buffer = ReplayBuffer.empty(5, obs_size=1, action_size=1)

    def rows(values):
        v = jnp.asarray(values, jnp.float32)
        return Transition(
            obs=v[:, None],
            action=v[:, None],
            reward=v,
            next_obs=v[:, None],
            terminated=v * 0,
        )

    buffer = buffer.add(rows([1, 2, 3]))
    assert int(buffer.size) == 3
    assert set(np.asarray(buffer.sample(jax.random.key(0), 200).reward).tolist()) == {
        1.0,
        2.0,
        3.0,
    }
    buffer = buffer.add(rows([4, 5, 6, 7]))
    np.testing.assert_array_equal(buffer.data.reward, [6, 7, 3, 4, 5])
    assert int(buffer.size) == 5 and int(buffer.position) == 2


# ------------------------------------------------------- compilation, seeds


def test_no_retrace_between_chunks_or_tasks_of_the_same_shapes():
    spec = _probe_spec()
    learner, state = _setup(SignProbe(), spec, rewire=True, num_modes=2, num_tasks=2)
    before = sac.trace_counts().get("train_chunk", 0)
    anchor = state.actor.body
    state, _ = sac.train_chunk(learner, state, losses.AlignmentRegulariser(anchor, 1.0), 3)
    state, _ = sac.train_chunk(learner, state, losses.AlignmentRegulariser(anchor, 1.0), 3)
    state = sac.begin_task(learner, state.actor, head=1, key=jax.random.key(5))
    state, _ = sac.train_chunk(
        learner, state, losses.AlignmentRegulariser(state.actor.body, 1.0), 3
    )
    assert sac.trace_counts()["train_chunk"] == before + 1


def test_frozen_heads_stay_bit_identical_while_another_task_trains():
    learner, state = _setup(
        SignProbe(), _probe_spec(), rewire=True, num_modes=2, num_tasks=2
    )
    state, _ = sac.train_chunk(learner, state, losses.NoRegulariser(), 5)
    heads_before = state.actor.body.heads
    state = sac.begin_task(learner, state.actor, head=1, key=jax.random.key(3))
    state = sac.warmup(learner, state, sac.warmup_rounds(learner))
    state, _ = sac.train_chunk(learner, state, losses.NoRegulariser(), 5)
    heads = state.actor.body.heads
    np.testing.assert_array_equal(heads.weight[0], heads_before.weight[0])
    np.testing.assert_array_equal(heads.bias[0], heads_before.bias[0])
    assert not np.array_equal(heads.weight[1], heads_before.weight[1])


def test_vmapped_seeds_match_separate_runs():
    spec = _probe_spec()
    learner, state_a = _setup(SignProbe(), spec, seed=0)
    _, state_b = _setup(SignProbe(), spec, seed=10)
    states = jax.tree.map(
        lambda a, b: jnp.stack([a, b]) if eqx.is_array(a) else a, state_a, state_b
    )
    regs = eqx.filter_vmap(lambda _: losses.NoRegulariser())(jnp.arange(2))
    batched, metrics = sac.train_chunk_seeds(learner, states, regs, 3)
    for i, single in enumerate((state_a, state_b)):
        single, single_metrics = sac.train_chunk(learner, single, losses.NoRegulariser(), 3)
        for got, want in zip(
            jax.tree.leaves(eqx.filter(batched.critic, eqx.is_array)),
            jax.tree.leaves(eqx.filter(single.critic, eqx.is_array)),
        ):
            np.testing.assert_allclose(got[i], want, rtol=2e-3, atol=2e-4)
        np.testing.assert_allclose(
            metrics.critic_loss[i], single_metrics.critic_loss, rtol=2e-3, atol=1e-5
        )


# ------------------------------------------------------------- a real task


@pytest.mark.slow
@pytest.mark.parametrize(("rewire", "num_modes"), [(False, 1), (True, 3)])
def test_pendulum_swing_up_is_learned_within_a_small_budget(rewire, num_modes):
    """Upright reward in [-0.33, 1] per step: a uniformly random policy scores about 55
    over 200 steps, a swing-up and balance about 180; we require more than 150 (best mode)
    after 25,600 env steps, with the plain and the rewired K=3 actor."""
    # the CPU-scale scenario's learner, with scores on the actor's learning rate (paper)
    spec = dataclasses.replace(
        quick_run().sac,
        wiring_lr=0.0,
        buffer_size=50_000,
        distill_alpha=1e-3 if rewire else 0.0,
    )
    env = Pendulum()
    learner = sac.Learner(
        spec, JaxVecEnv(env, num_envs=16, episode_length=200, fresh_resets=True)
    )
    policy = PolicySpec(
        in_size=3,
        out_size=2,
        num_tasks=1,
        rewire=rewire,
        network=NetworkSpec(hidden_sizes=(64, 64)),
        permutation=PermutationSpec(num_modes=num_modes),
    )
    state = sac.init_state(
        learner, build(policy, key=jax.random.key(0)), key=jax.random.key(1)
    )
    state = sac.warmup(learner, state, sac.warmup_rounds(learner))
    state, _ = sac.train_chunk(learner, state, losses.NoRegulariser(), 1500)
    eval_env = JaxVecEnv(env, num_envs=64, episode_length=200, fresh_resets=True)
    returns = [
        float(sac.evaluate(eval_env, state.actor.with_mode(k), 0, jax.random.key(7)).mean())
        for k in range(num_modes)
    ]
    assert max(returns) > 150, returns


def test_truncated_transitions_are_stored_as_bootstrapping():
    spec = _probe_spec(
        episode_length=4,
        num_envs=2,
        updates_per_step=1.0,
        learning_starts=16,
        start_steps=16,
    )
    learner = sac.Learner(spec, JaxVecEnv(Pendulum(), num_envs=2, episode_length=4))
    actor = build(
        PolicySpec(in_size=3, out_size=2, num_tasks=1, rewire=False, network=SMALL),
        key=jax.random.key(0),
    )
    state = sac.warmup(learner, sac.init_state(learner, actor, key=jax.random.key(1)), 8)
    assert int(state.buffer.size) == 16
    np.testing.assert_array_equal(state.buffer.data.terminated[:16], 0.0)
    learner, state = _setup(ConstantRewardProbe(), _probe_spec())
    np.testing.assert_array_equal(
        state.buffer.data.terminated[: int(state.buffer.size)], 1.0
    )


def test_evaluate_rollouts_equals_the_mean_of_separate_evaluations():
    env = JaxVecEnv(Pendulum(), num_envs=4, episode_length=20, fresh_resets=True)
    policy = build(
        PolicySpec(in_size=3, out_size=2, num_tasks=1, rewire=False, network=SMALL),
        key=jax.random.key(0),
    )
    keys = jax.random.split(jax.random.key(1), 3)
    separate = np.mean([np.asarray(sac.evaluate(env, policy, 0, k)).mean() for k in keys])
    np.testing.assert_allclose(
        sac.evaluate_rollouts(env, policy, 0, keys), separate, rtol=1e-5
    )


# --------------------------------------------------- where the stochasticity acts


def _spy_policy_calls(monkeypatch):
    """Record, per traced call of `sac._policy_out`, whether the scores it saw were
    perturbed by Gumbel noise and whether it drew Dropout masks."""
    calls = []
    perturbed = []
    real_out, real_perturb = sac._policy_out, perm.perturb_scores

    def perturb(*args, **kwargs):
        perturbed.append(True)
        return real_perturb(*args, **kwargs)

    def policy_out(policy, obs, head, dropout_key=None):
        calls.append((bool(perturbed), dropout_key is not None))
        perturbed.clear()
        return real_out(policy, obs, head, dropout_key)

    monkeypatch.setattr(perm, "perturb_scores", perturb)
    monkeypatch.setattr(sac, "_policy_out", policy_out)
    return calls


@pytest.mark.parametrize("kind", ["gumbel", "dropout"])
def test_gumbel_noise_only_in_updates_and_dropout_in_collection_and_updates(
    monkeypatch, kind
):
    gumbel = kind == "gumbel"
    spec = _probe_spec()
    learner = sac.Learner(
        spec, JaxVecEnv(SignProbe(), num_envs=spec.num_envs, episode_length=1)
    )
    policy = PolicySpec(
        in_size=1,
        out_size=2,
        num_tasks=1,
        network=SMALL,
        permutation=PermutationSpec(
            num_modes=2, noise_scale=0.1 if gumbel else 0.0, dropout=0.0 if gumbel else 0.1
        ),
    )
    actor = build(policy, key=jax.random.key(0))
    state = sac.init_state(learner, actor, key=jax.random.key(1))
    state = sac.warmup(learner, state, sac.warmup_rounds(learner))
    calls = _spy_policy_calls(monkeypatch)
    regulariser = losses.NoRegulariser()
    key = jax.random.key(3)
    seen = {}
    for name, fn in (
        ("collect", lambda: sac._collect(learner, state)),
        ("critic", lambda: sac._critic_update(learner, state, key)),
        ("actor", lambda: sac._actor_update(learner, state, regulariser, key)),
        ("evaluate", lambda: sac._evaluate(learner.env, actor.with_mode(0), 0, key)),
    ):
        calls.clear()
        jax.eval_shape(fn)
        seen[name] = list(calls)
    # (Gumbel noise seen, Dropout masks drawn) per policy pass
    assert seen["collect"] == [(False, not gumbel)]
    assert seen["critic"] == [(gumbel, not gumbel)]  # next action of the TD target
    # the other mode (distillation target, computed first), then the trained mode
    assert seen["actor"] == [(False, not gumbel), (gumbel, not gumbel)]
    assert seen["evaluate"] == [(False, False)]


def test_a_dropout_actor_acts_differently_only_when_training():
    spec = _probe_spec()
    policy = PolicySpec(
        in_size=1,
        out_size=2,
        num_tasks=1,
        network=SMALL,
        permutation=PermutationSpec(num_modes=1, noise_scale=0.0, dropout=0.1),
    )
    actor = build(policy, key=jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (64, 1))
    net = actor.with_mode(0)
    a = sac._policy_out(net, obs, 0)
    np.testing.assert_array_equal(a, sac._policy_out(net, obs, 0))
    b = sac._policy_out(net, obs, 0, jax.random.key(2))
    assert not np.allclose(a, b)
    del spec


def test_truncation_as_terminal_is_stored_when_asked():
    for bootstrap in (True, False):
        spec = _probe_spec(episode_length=1, bootstrap_at_truncation=bootstrap)
        learner = sac.Learner(
            spec, JaxVecEnv(Pendulum(), num_envs=spec.num_envs, episode_length=3)
        )
        actor = build(
            PolicySpec(in_size=3, out_size=2, num_tasks=1, rewire=False, network=SMALL),
            key=jax.random.key(0),
        )
        state = sac.init_state(learner, actor, key=jax.random.key(1))
        for _ in range(3):
            state, _ = sac._collect(learner, state)
        stored = np.asarray(state.buffer.data.terminated[: 3 * spec.num_envs])
        # the pendulum never terminates; its episodes are cut at 3 steps
        expected = np.zeros(3 * spec.num_envs)
        if not bootstrap:
            expected[2 * spec.num_envs :] = 1.0
        np.testing.assert_array_equal(stored, expected)


def test_carried_critic_continues_with_a_fresh_optimiser_and_copied_target():
    spec = _probe_spec()
    learner, state = _setup(SignProbe(), spec)
    state, _ = sac.train_chunk(learner, state, losses.NoRegulariser(), 5)
    new = sac.begin_task(
        learner, state.actor, head=0, key=jax.random.key(9), critic=state.critic
    )
    for got, want in zip(jax.tree.leaves(new.critic), jax.tree.leaves(state.critic)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(jax.tree.leaves(new.target_critic), jax.tree.leaves(state.critic)):
        np.testing.assert_array_equal(got, want)
    fresh = sac.init_state(learner, state.actor, key=jax.random.key(9))
    for got, want in zip(
        jax.tree.leaves(new.critic_opt), jax.tree.leaves(fresh.critic_opt)
    ):
        np.testing.assert_array_equal(got, want)
    assert float(new.log_alpha) == pytest.approx(np.log(spec.init_temperature))


def test_warmup_collects_with_the_current_policy_after_start_steps():
    """Published Brax set-up: only the first round is uniform random, the rest of the
    warm-up is the current policy's (here saturated at +1)."""
    spec = _probe_spec(learning_starts=24, start_steps=8)
    learner = sac.Learner(spec, JaxVecEnv(Pendulum(), num_envs=8, episode_length=50))
    actor = build(
        PolicySpec(in_size=3, out_size=2, num_tasks=1, rewire=False, network=SMALL),
        key=jax.random.key(0),
    )
    actor = eqx.tree_at(
        lambda a: a.heads.bias, actor, jnp.array([[10.0, -20.0]], jnp.float32)
    )
    actor = eqx.tree_at(lambda a: a.heads.weight, actor, jnp.zeros_like(actor.heads.weight))
    state = sac.init_state(learner, actor, key=jax.random.key(1))
    state = sac.warmup(learner, state, sac.warmup_rounds(learner))
    actions = np.asarray(state.buffer.data.action[:24, 0])
    assert np.all(actions[8:] > 0.999)  # the policy's action
    assert np.std(actions[:8]) > 0.2  # uniform random in the first round


# ------------------------------------------------- regularisers at coefficient 0


class _AlwaysComputedAlignment(losses.AbstractRegulariser):
    """Eq. 11 as computed before `losses.weighted_term`: `beta * L_SP` evaluated always."""

    anchor: object
    beta: jax.Array

    def __call__(self, actor):
        return self.beta * alignment_loss(actor, self.anchor)


def test_a_zero_coefficient_skips_its_term_and_a_nonzero_one_weights_it():
    poisoned = lambda x: jnp.sum(x) * jnp.nan  # noqa: E731
    value, grad = jax.value_and_grad(
        lambda x: losses.weighted_term(jnp.float32(0), lambda: poisoned(x))
    )(jnp.ones(3))
    assert float(value) == 0.0  # `0 * term` would be NaN: the term was not used
    np.testing.assert_array_equal(grad, np.zeros(3))
    term = lambda x: jnp.sum(jnp.sin(x) ** 2)  # noqa: E731
    x = jnp.array([0.3, -1.2, 2.0])
    weighted = lambda x: losses.weighted_term(jnp.float32(2.5), lambda: term(x))  # noqa: E731
    np.testing.assert_allclose(weighted(x), 2.5 * term(x), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(weighted)(x), 2.5 * np.sin(2 * x), rtol=1e-5)


def test_rewire_trains_the_same_whether_alignment_is_skipped_or_weighted_by_zero():
    """Same learner state, up to float rounding (about 1e-7 after 20 updates: the
    compiled programs differ), with `beta` 0 and 3; and `beta` 3 does change training."""
    learner, state = _setup(
        SignProbe(), _probe_spec(), rewire=True, num_modes=2, num_tasks=2
    )
    anchor = jax.tree.map(
        lambda a: a + 0.05 if eqx.is_inexact_array(a) else a, state.actor.body
    )

    def trained(regulariser):
        after, _ = sac.train_chunk(learner, state, regulariser, 20)
        return [a for a in jax.tree.leaves(after) if eqx.is_inexact_array(a)]

    runs = {}
    for beta in (0.0, 3.0):
        runs[beta] = trained(losses.AlignmentRegulariser(anchor, beta))
        computed = trained(_AlwaysComputedAlignment(anchor, jnp.float32(beta)))
        for a, b in zip(runs[beta], computed, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    change = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(runs[0.0], runs[3.0]))
    assert change > 1e-3  # the weighted term acts
