"""PackNet, PNN and CSP: each method's defining property against an oracle, and
earlier tasks' policies bit-identical through real gradient steps on later tasks."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewire_eqx import sac
from rewire_eqx.envs import Pendulum
from rewire_eqx.envs.base import JaxVecEnv
from rewire_eqx.envs.probes import TwoStepProbe
from rewire_eqx.methods import make_method
from rewire_eqx.methods.base import TaskEnd
from rewire_eqx.methods.csp import SubspaceVecEnv, sample_simplex
from rewire_eqx.methods.packnet import FREE, keep_largest
from rewire_eqx.networks import PlainMLP
from rewire_eqx.scenarios import brax_run, quick_run
from rewire_eqx.specs import MethodSpec, NetworkSpec, SACSpec

OBS, ACT = 3, 2


def _method(name, tasks=4, hidden=(8, 8), **method_fields):
    spec = quick_run()
    spec = dataclasses.replace(
        spec,
        method=MethodSpec(name=name, **method_fields),
        network=NetworkSpec(hidden_sizes=hidden),
        scenario=dataclasses.replace(
            spec.scenario, tasks=("normal",) * tasks, reference_rewards=()
        ),
    )
    return make_method(spec, spec.policy_spec(OBS, ACT))


def _brax_method(name, **fields):
    spec = brax_run("halfcheetah_forgetting")  # 8 tasks, heads reused modulo 4
    spec = dataclasses.replace(spec, method=MethodSpec(name=name, **fields))
    return make_method(spec, spec.policy_spec(17, 6))


def _inputs(size, seed=0, count=16):
    return jax.random.normal(jax.random.key(seed), (count, size))


def _train(actor, x, head, *, steps=4, seed=0):
    """A few Adam steps (fresh optimiser, as every task starts) pulling the policy's
    outputs toward a random target: a stand-in for SAC that moves every trainable
    parameter."""
    optimiser = optax.adam(1e-2)
    opt_state = optimiser.init(eqx.filter(actor, eqx.is_inexact_array))
    target = jax.random.normal(jax.random.key(seed), (x.shape[0], 2 * ACT))

    @eqx.filter_jit
    def step(actor, opt_state):
        def loss(a):
            policy = a.with_mode(0)
            out = jax.vmap(lambda o: policy(o, head=head))(x)
            return jnp.mean((out - target) ** 2)

        grads = eqx.filter_grad(loss)(actor)
        updates, opt_state = optimiser.update(
            grads, opt_state, eqx.filter(actor, eqx.is_inexact_array)
        )
        return eqx.apply_updates(actor, updates), opt_state

    for _ in range(steps):
        actor, opt_state = step(actor, opt_state)
    return actor


def _outputs(policy, x, head):
    return np.asarray(jax.vmap(lambda o: policy(o, head=head))(x))


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------- PackNet


@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([(3, 4), (5, 7), (16,)]),
    st.floats(0.0, 1.0),
)
def test_keep_largest_matches_a_numpy_top_k(seed, shape, share):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=shape).astype(np.float32)
    candidates = rng.random(shape) < 0.6
    count = int(round(share * candidates.sum()))
    got = np.asarray(keep_largest(jnp.asarray(weight), jnp.asarray(candidates), count))
    order = np.argsort(
        -np.where(candidates, np.abs(weight), -np.inf).ravel(), kind="stable"
    )
    want = np.zeros(weight.size, bool)
    want[order[:count]] = True
    np.testing.assert_array_equal(got, want.reshape(shape) & candidates)
    assert got.sum() == count


def test_packnet_prunes_an_even_share_and_zeroes_what_it_frees():
    method = _method("packnet", tasks=4)
    state = method.init(key=jax.random.key(0))
    actor = method.training_actor(state, 0, key=jax.random.key(1))
    assert all(bool(jnp.all(o == 0)) for o in actor.owners)  # task 0 claims everything
    pruned = method.mid_task(actor, 0)
    for o, w_before, w in zip(
        pruned.owners, actor._weights(actor.body), pruned._weights(pruned.body)
    ):
        assert int(jnp.sum(o == 0)) == round(o.size / 4)
        kept = np.asarray(o == 0)
        # the kept weights are the largest in magnitude, the freed ones are zero
        assert (
            np.abs(np.asarray(w_before))[kept].min()
            >= np.abs(np.asarray(w_before))[~kept].max()
        )
        assert np.all(np.asarray(w)[~kept] == 0) and np.all(np.asarray(o)[~kept] == FREE)
    state, facts = method.end_task(
        state, pruned, 0, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
    )
    # task 1 claims the free weights and keeps a third of them
    actor1 = method.mid_task(method.training_actor(state, 1, key=jax.random.key(2)), 1)
    for o in actor1.owners:
        free_after_0 = o.size - round(o.size / 4)
        assert int(jnp.sum(o == 1)) == round(free_after_0 / 3)


def test_packnet_published_prune_ratio_keeps_a_share_of_each_layer():
    """prune_coeff 0.875: each task keeps the largest 1/8 of every layer's entries
    among its own weights (all of them once fewer remain)."""
    method = _method("packnet", tasks=3, packnet_prune_ratio=0.875)
    state = method.init(key=jax.random.key(0))
    actor = method.training_actor(state, 0, key=jax.random.key(1))
    pruned = method.mid_task(actor, 0)
    for o, w in zip(pruned.owners, actor._weights(actor.body)):
        assert int(jnp.sum(o == 0)) == round(0.125 * o.size)
        kept = np.asarray(o == 0)
        assert np.abs(np.asarray(w))[kept].min() >= np.abs(np.asarray(w))[~kept].max()


def test_packnet_offline_retraining_prunes_after_the_interaction_and_updates_only():
    method = _method("packnet", tasks=2, packnet_retrain_updates=2000)
    spec = method.spec
    method = make_method(spec, spec.policy_spec(3, 1))  # the pendulum's sizes
    assert method.offline_updates(0) == 2000 and method.mid_task_share(0) == 0.0
    scaled = dataclasses.replace(
        spec, scenario=dataclasses.replace(spec.scenario, budget_scale=0.5)
    )
    assert make_method(scaled, method.policy).offline_updates(0) == 1000
    learner = sac.Learner(
        dataclasses.replace(spec.sac, num_envs=4, learning_starts=8, start_steps=8),
        JaxVecEnv(Pendulum(), num_envs=4, episode_length=20),
    )
    state = method.init(key=jax.random.key(0))
    actor = method.mid_task(method.training_actor(state, 0, key=None), 0)
    train = sac.begin_task(learner, actor, head=0, key=jax.random.key(1))
    train = sac.warmup(learner, train, 4)
    after = sac.train_updates(learner, train, method.regulariser(state, 0), 10)
    assert int(after.env_steps) == int(train.env_steps)  # no interaction
    assert int(after.updates) == int(train.updates) + 10 * learner.spec.policy_update_delay
    kept = np.asarray(after.actor.owners[0] == 0)
    w = np.asarray(after.actor.body.hidden[0].weight)
    assert np.all(w[~kept] == 0)  # freed weights stay zero while retraining
    assert not np.array_equal(w[kept], np.asarray(actor.body.hidden[0].weight)[kept])


def test_packnet_task_masks_select_the_weights_owned_up_to_the_task():
    method = _method("packnet", tasks=3)
    state = method.init(key=jax.random.key(0))
    for task in range(3):
        actor = method.training_actor(state, task, key=jax.random.key(task))
        actor = _train(
            method.mid_task(_train(actor, _inputs(OBS), task), task), _inputs(OBS), task
        )
        state, _ = method.end_task(
            state, actor, task, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
        )
    x = np.asarray(_inputs(OBS, seed=3))
    actor = state.actor
    for task in range(3):
        h = x
        for layer, owner in zip(actor.body.hidden, actor.owners):
            mask = (np.asarray(owner) >= 0) & (np.asarray(owner) <= task)
            h = h @ (np.asarray(layer.weight) * mask).T + np.asarray(layer.bias)
            h = np.where(h > 0, h, 0.2 * h)
        head = actor.body.head(task)
        want = h @ np.asarray(head.weight).T + np.asarray(head.bias)
        got = _outputs(method.policy_for_task(state, task), jnp.asarray(x), task)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shared_head", [False, True])
def test_packnet_weights_of_earlier_tasks_stay_bit_identical(shared_head):
    method = _method("packnet", tasks=3)
    if shared_head:
        method.policy = dataclasses.replace(method.policy, task_heads=False)
    state = method.init(key=jax.random.key(0))
    x = _inputs(OBS)
    snapshots = []
    for task in range(3):
        head = method.policy.head_of_task(task)
        actor = method.training_actor(state, task, key=jax.random.key(task))
        actor = _train(actor, x, head, seed=task)
        actor = _train(method.mid_task(actor, task), x, head, seed=10 + task)
        state, _ = method.end_task(
            state, actor, task, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
        )
        snapshots.append(state.actor)
        for earlier in range(task + 1):
            policy_then = snapshots[earlier].with_task(earlier)
            policy_now = method.policy_for_task(state, earlier)
            _assert_trees_equal(policy_now.hidden, policy_then.hidden)
            slot = method.policy.head_of_task(earlier)
            _assert_trees_equal(policy_now.head(slot), policy_then.head(slot))
    first, last = snapshots[0], snapshots[-1]
    for w0, w2, o0 in zip(
        first._weights(first.body), last._weights(last.body), first.owners
    ):
        owned = np.asarray(o0 == 0)
        np.testing.assert_array_equal(np.asarray(w2)[owned], np.asarray(w0)[owned])
    # and the later tasks did learn something with the weights they own
    assert not np.array_equal(
        np.asarray(last.body.hidden[0].weight), np.asarray(first.body.hidden[0].weight)
    )


# ----------------------------------------------------------------------- PNN


def test_pnn_column_matches_a_numpy_restatement_with_laterals():
    method = _method("pnn", tasks=3, hidden=(5, 4))
    state = method.init(key=jax.random.key(0))
    net = state.actor
    x = np.asarray(_inputs(OBS))
    cols = jax.tree.map(np.asarray, net.columns)
    pairs = list(zip(net.sources, net.targets))
    weights = [(l.weight, l.bias) for l in cols.hidden] + [
        (cols.heads.weight[:, 0], cols.heads.bias[:, 0])
    ]
    for column in range(3):
        h = [x] * 3
        for i, (w, b) in enumerate(weights):
            z = [h[k] @ w[k].T + b[k] for k in range(3)]
            if i > 0:
                for p, (j, k) in enumerate(pairs):
                    z[k] = z[k] + h[j] @ np.asarray(net.laterals[i - 1][p]).T
            last = i == len(weights) - 1
            h = z if last else [np.where(v > 0, v, 0.2 * v) for v in z]
        got = _outputs(net.with_task(column), jnp.asarray(x), 0)
        np.testing.assert_allclose(got, h[column], rtol=1e-5, atol=1e-5)


def test_pnn_trains_only_the_current_column_and_keeps_earlier_ones_bit_identical():
    method = _method("pnn", tasks=3)
    state = method.init(key=jax.random.key(0))
    x = _inputs(OBS)
    outputs = {}
    before = state.actor
    for task in range(3):
        actor = _train(method.training_actor(state, task, key=None), x, 0, seed=task)
        state, _ = method.end_task(
            state, actor, task, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
        )
        outputs[task] = _outputs(method.policy_for_task(state, task), x, 0)
        for earlier in range(task):
            np.testing.assert_array_equal(
                _outputs(method.policy_for_task(state, earlier), x, 0), outputs[earlier]
            )
        # this task's column moved; later columns did not
        layer_now, layer_before = state.actor.columns.hidden[0], before.columns.hidden[0]
        moved = [
            not np.array_equal(layer_now.weight[c], layer_before.weight[c])
            for c in range(3)
        ]
        assert moved == [c <= task for c in range(3)]
    # laterals move only into the column being trained: pairs (0,1) into 1, (0,2),(1,2) into 2
    assert not np.array_equal(state.actor.laterals[0], before.laterals[0])


@pytest.mark.parametrize("width", [0, 96])
def test_pnn_model_size_counts_columns_and_laterals(width):
    method = _brax_method("pnn", pnn_width=width)
    state = method.init(key=jax.random.key(0))
    n = width or 256
    assert method.column_sizes == (n, n, n)
    assert state.actor.columns.hidden[1].weight.shape == (8, n, n)
    column = (17 * n + n) + 2 * (n * n + n) + (n * 12 + 12)
    assert method.column_params() == column
    lateral = n * n + n * n + n * 12  # into hidden 2, hidden 3 and the output
    assert method.lateral_params_per_pair() == lateral
    # 8 columns plus the 28 lateral maps between them
    assert method.policy_params(state, 8) == 8 * column + 28 * lateral
    unit = method.unit_params()
    assert method.policy_params(state, 1) / unit == pytest.approx(column / unit)


# ----------------------------------------------------------------------- CSP


@given(st.integers(0, 2**31 - 1), st.integers(1, 5))
def test_simplex_draws_are_on_the_active_face(seed, active_count):
    active = (jnp.arange(5) < active_count).astype(jnp.float32)
    alpha = np.asarray(sample_simplex(jax.random.key(seed), active, (200,)))
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(alpha[:, active_count:] == 0) and np.all(alpha >= 0)


def test_dirichlet_one_is_uniform_on_the_simplex():
    alpha = np.asarray(sample_simplex(jax.random.key(0), jnp.ones(3), (100_000,)))
    # Dirichlet(1,1,1): each coordinate ~ Beta(1, 2): mean 1/3, variance 1/18
    np.testing.assert_allclose(alpha.mean(axis=0), 1 / 3, atol=0.005)
    np.testing.assert_allclose(alpha.var(axis=0), 1 / 18, atol=0.003)


def test_subspace_policy_is_the_network_with_combined_weights():
    method = _method("csp", tasks=3)
    state = method.init(key=jax.random.key(0))
    anchors = jax.tree.map(
        lambda a: (
            a + jax.random.normal(jax.random.key(1), a.shape)
            if eqx.is_inexact_array(a)
            else a
        ),
        state.actor.anchors,
    )
    actor = eqx.tree_at(lambda n: n.anchors, state.actor, anchors)
    alpha = jnp.array([0.2, 0.5, 0.3])
    combined = jax.tree.map(
        lambda a: jnp.tensordot(alpha, a, axes=1) if eqx.is_inexact_array(a) else a, anchors
    )
    assert isinstance(combined, PlainMLP)
    obs = _inputs(OBS)
    x = jnp.concatenate([obs, jnp.broadcast_to(alpha, (obs.shape[0], 3))], axis=1)
    for head in (0, 2):
        np.testing.assert_allclose(
            _outputs(actor.with_mode(0), x, head),  # alpha read from the observation
            _outputs(combined, obs, head),
            rtol=1e-5,
            atol=1e-5,
        )
        noise = x.at[:, OBS:].set(0.7)  # a fixed alpha ignores the observation's
        np.testing.assert_allclose(
            _outputs(actor.with_alpha(alpha), noise, head),
            _outputs(combined, obs, head),
            rtol=1e-5,
            atol=1e-5,
        )


def _critic(method):
    spec = SACSpec(critic=NetworkSpec(hidden_sizes=(8,)))
    return sac.make_critic(spec, OBS + method.policy.num_tasks, ACT, key=jax.random.key(5))


@pytest.mark.parametrize(
    ("reward_old", "reward_new", "grows"),
    [
        (100.0, 109.0, False),
        (100.0, 111.0, True),
        (-50.0, -46.0, False),
        (-50.0, -44.0, True),
    ],
)
def test_csp_grows_only_when_the_new_anchor_beats_the_old_subspace(
    reward_old, reward_new, grows
):
    method = _method("csp", tasks=4)  # csp_threshold 0.1
    state = method.init(key=jax.random.key(0))
    x = jnp.concatenate([_inputs(OBS), jnp.ones((16, 4)) / 4], axis=1)
    actor = _train(method.training_actor(state, 0, key=None), x, 0)
    state, facts = method.end_task(
        state, actor, 0, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
    )
    assert facts["anchors"] == 1 and int(state.kept) == 1
    actor = method.training_actor(state, 1, key=None)
    # the new anchor starts at the mean of the kept one, i.e. equal to it
    _assert_trees_equal(actor.anchor(1).hidden, actor.anchor(0).hidden)
    actor = _train(actor, x, 1)
    best = {1: jnp.array([1.0, 0, 0, 0]), 2: jnp.array([0.4, 0.6, 0, 0])}
    method._best = lambda actor, critic, obs, count, head, key: best[count]
    seen = []

    def evaluate(policy):  # the new subspace is the one that uses anchor 1
        seen.append(np.asarray(policy.fixed_alpha))
        return reward_new if float(policy.fixed_alpha[1]) > 0 else reward_old

    state, facts = method.end_task(
        state,
        actor,
        1,
        TaskEnd(
            evaluate=evaluate, reward_before=None, observations=x, critic=_critic(method)
        ),
    )
    assert len(seen) == 2
    assert facts["grew"] is grows and int(state.kept) == (2 if grows else 1)
    np.testing.assert_array_equal(state.alphas[1], best[2] if grows else best[1])
    unit = method.unit_params()
    assert method.policy_params(state, 2) == (2 if grows else 1) * (unit + 2)


def test_csp_keeps_earlier_tasks_policies_bit_identical():
    method = _method("csp", tasks=3, csp_threshold=0.0)
    method._best = lambda actor, critic, obs, count, head, key: (
        (jnp.arange(3) < count) / count
    )  # the centre of each simplex
    state = method.init(key=jax.random.key(0))
    x = jnp.concatenate([_inputs(OBS), jnp.ones((16, 3)) / 3], axis=1)
    outputs = {}
    for task in range(3):
        actor = _train(method.training_actor(state, task, key=None), x, task, seed=task)
        rewards = iter([0.0, float(task)])  # the new subspace always wins
        state, _ = method.end_task(
            state,
            actor,
            task,
            TaskEnd(
                evaluate=lambda p, rewards=rewards: next(rewards),
                reward_before=None,
                observations=x,
                critic=_critic(method),
            ),
        )
        outputs[task] = _outputs(method.policy_for_task(state, task), x, task)
        for earlier in range(task):
            np.testing.assert_array_equal(
                _outputs(method.policy_for_task(state, earlier), x, earlier),
                outputs[earlier],
            )
    assert int(state.kept) == 3


def test_subspace_env_draws_alpha_per_episode_and_stores_the_acting_alpha():
    env = SubspaceVecEnv(
        env=JaxVecEnv(TwoStepProbe(), num_envs=4, episode_length=10),
        active=jnp.array([1.0, 1.0, 0.0]),
    )
    assert env.obs_size == 1 + 3
    state = env.reset(jax.random.key(0))
    first = state.obs[:, 1:]
    assert np.all(np.asarray(first[:, 2]) == 0)
    state, result = env.step(state, jnp.zeros((4, 1)))  # step 1 of 2: no episode ends
    np.testing.assert_array_equal(state.obs[:, 1:], first)
    state2, result2 = env.step(state, jnp.zeros((4, 1)))  # the episodes end
    np.testing.assert_array_equal(result2.next_obs[:, 1:], first)  # the acting alpha
    assert bool(jnp.all(result2.done))
    assert not np.allclose(state2.obs[:, 1:], first)  # a new alpha for the new episodes


@pytest.mark.parametrize("every", [3, 4])
def test_subspace_env_redraws_alpha_every_k_steps_within_an_episode(every):
    env = SubspaceVecEnv(
        env=JaxVecEnv(Pendulum(), num_envs=4, episode_length=10),
        active=jnp.array([1.0, 1.0, 1.0]),
        resample_every=every,
    )
    state = env.reset(jax.random.key(0))
    alphas = [state.obs[:, 3:]]
    for _ in range(9):
        state, result = env.step(state, jnp.zeros((4, 1)))
        np.testing.assert_array_equal(result.next_obs[:, 3:], alphas[-1])  # acting alpha
        alphas.append(state.obs[:, 3:])
    for step in range(1, 10):
        changed = not np.allclose(alphas[step], alphas[step - 1])
        assert changed == (step % every == 0), step


def test_model_sizes_of_packnet_and_csp_for_8_task_brax_scenarios():
    packnet = _brax_method("packnet")
    assert (
        packnet.policy_params(packnet.init(key=jax.random.key(0)), 8)
        == 2 * packnet.unit_params()
    )
    csp = _brax_method("csp")
    state = csp.init(key=jax.random.key(0))
    state = dataclasses.replace(state, kept=jnp.asarray(5, jnp.int32))
    assert csp.policy_params(state, 8) / csp.unit_params() == pytest.approx(5.0, abs=1e-3)


def test_csp_scores_candidates_with_the_critic_and_picks_the_best():
    method = _method("csp", tasks=3)
    state = method.init(key=jax.random.key(0))
    actor = _train(method.training_actor(state, 0, key=None), _inputs(OBS + 3), 0)
    critic = _critic(method)
    obs = _inputs(OBS + 3, seed=4)
    candidates = sample_simplex(jax.random.key(2), jnp.ones(3), (5,))
    values = method.subspace_values(actor, critic, obs, candidates, 0)
    for alpha, value in zip(candidates, values):
        x = obs.at[:, OBS:].set(alpha)
        policy = actor.with_alpha(alpha)
        action = jnp.tanh(_outputs(policy, x, 0)[:, :ACT])
        inputs = jnp.concatenate([x, action], 1)
        twins = [jax.tree.map(lambda a, k=k: a[k], critic) for k in range(2)]
        q = jnp.stack([jax.vmap(lambda i, c=c: c(i)[0])(inputs) for c in twins])
        np.testing.assert_allclose(value, jnp.mean(jnp.min(q, axis=0)), rtol=1e-5)
    best = method._best(actor, critic, obs, 2, 0, jax.random.key(3))
    assert float(best[2]) == 0.0 and float(jnp.sum(best)) == pytest.approx(1.0)


def test_mid_task_runs_before_the_last_share_of_the_chunks():
    from rewire_eqx.runner import _mid_task_chunk

    assert _mid_task_chunk(10, 0.1) == 9  # one retraining chunk of ten
    assert _mid_task_chunk(6, 0.5) == 3
    assert _mid_task_chunk(6, 0.01) == 5  # at least one chunk retrains
    assert _mid_task_chunk(2, 0.9) == 1  # and at least one trains before
    assert _mid_task_chunk(1, 0.1) == 1  # a single chunk: after it, no retraining
    assert _mid_task_chunk(6, 0.0) is None
