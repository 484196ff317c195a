"""Each method's defining property, checked on its state without training."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rewire_eqx import permutation as perm
from rewire_eqx import sac
from rewire_eqx.methods import make_method
from rewire_eqx.methods.base import TaskEnd
from rewire_eqx.networks import PlainMLP, RewiredMLP
from rewire_eqx.scenarios import brax_run
from rewire_eqx.specs import MethodSpec


def _method(name, **method_fields):
    spec = brax_run("halfcheetah_forgetting")  # 8 tasks, heads reused modulo 4
    spec = dataclasses.replace(spec, method=MethodSpec(name=name, **method_fields))
    return make_method(spec, spec.policy_spec(17, 6))


def _perturbed(actor, seed):
    """A stand-in for a trained actor: every float array shifted by noise."""
    leaves, tree = jax.tree.flatten(actor)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [
        x + 0.01 * jax.random.normal(k, x.shape) if eqx.is_inexact_array(x) else x
        for x, k in zip(leaves, keys)
    ]
    return jax.tree.unflatten(tree, new)


@pytest.mark.parametrize(
    ("name", "size"), [("ft1", 1.0), ("ft_l2", 2.0), ("ftn", 8.0), ("sacn", 8.0)]
)
def test_model_sizes_match_the_paper_for_8_task_brax_scenarios(name, size):
    method = _method(name)
    state = method.init(key=jax.random.key(0))
    assert method.policy_params(state, 8) / method.unit_params() == pytest.approx(size)


def test_rewire_model_size_is_two_policies_plus_wiring_storage():
    method = _method("rewire")
    state = method.init(key=jax.random.key(0))
    unit = method.unit_params()
    assert unit == (17 * 256 + 256) + 2 * (256 * 256 + 256) + (256 * 12 + 12)
    size = method.policy_params(state, 8) / unit
    # scores, adapters (output side on 3 layers, input side on 2), 4 slots' wirings
    extra = 3 * 768 + (768 + 256 * 2) + 4 * 768
    assert size == pytest.approx(2 + extra / unit)  # about 2.05 (the paper: 2.1)


@pytest.mark.parametrize("name", ["ftn", "sacn"])
def test_policy_per_task_evaluates_task_i_with_policy_i(name):
    method = _method(name)
    state = method.init(key=jax.random.key(0))
    trained = []
    for task in range(3):
        actor = method.training_actor(state, task, key=jax.random.key(10 + task))
        actor = _perturbed(actor, task)
        trained.append(actor)
        state, _ = method.end_task(
            state, actor, task, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
        )
    for task, actor in enumerate(trained):
        policy = method.policy_for_task(state, task)
        for got, want in zip(jax.tree.leaves(policy), jax.tree.leaves(actor)):
            np.testing.assert_array_equal(got, want)


def test_sacn_starts_every_task_from_a_fresh_initialisation_and_ftn_does_not():
    sacn, ftn = _method("sacn"), _method("ftn")
    for method, fresh in ((sacn, True), (ftn, False)):
        state = method.init(key=jax.random.key(0))
        trained = _perturbed(method.training_actor(state, 0, key=jax.random.key(1)), 0)
        state, _ = method.end_task(
            state, trained, 0, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
        )
        start = method.training_actor(state, 1, key=jax.random.key(2))
        same_hidden = all(
            np.array_equal(a.weight, b.weight) for a, b in zip(start.hidden, trained.hidden)
        )
        assert same_hidden is (not fresh)
        if fresh:
            expected = method.training_actor(state, 1, key=jax.random.key(2))
            np.testing.assert_array_equal(start.hidden[0].weight, expected.hidden[0].weight)


def test_new_task_head_is_a_copy_of_the_previous_one():
    method = _method("ft1")
    state = method.init(key=jax.random.key(0))
    trained = _perturbed(state.actor, 3)
    state, _ = method.end_task(
        state, trained, 0, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
    )
    actor = method.training_actor(state, 1, key=jax.random.key(0))
    np.testing.assert_array_equal(actor.heads.weight[1], trained.heads.weight[0])
    # with 8 tasks and 4 heads, task 5 reuses head 1 as it is
    actor5 = method.training_actor(state, 5, key=jax.random.key(0))
    np.testing.assert_array_equal(actor5.heads.weight[1], trained.heads.weight[1])


def _random_scores(actor, seed):
    return tuple(
        jax.random.uniform(jax.random.key(seed + i), s.shape)
        for i, s in enumerate(actor.scores)
    )


def _mode_evaluator(trained, rewards):
    """An evaluator that identifies a mode of `trained` by its permuted first-layer bias."""
    calls = []

    def evaluate(policy):
        for mode, reward in rewards.items():
            if np.array_equal(
                policy.hidden[0].bias, trained.with_mode(mode).hidden[0].bias
            ):
                calls.append(mode)
                return reward
        raise AssertionError("unknown policy")

    return evaluate, calls


def test_rewire_first_task_caches_mode_0_without_evaluating_modes():
    method = _method("rewire")
    state = method.init(key=jax.random.key(0))
    trained = eqx.tree_at(
        lambda a: a.scores, _perturbed(state.actor, 1), _random_scores(state.actor, 0)
    )
    evaluate, calls = _mode_evaluator(trained, {0: 1.0, 1: 5.0, 2: 3.0})
    new, facts = method.end_task(
        state, trained, 0, TaskEnd(evaluate=evaluate, reward_before=None)
    )
    assert calls == [] and facts["kept_mode"] == 0 and not facts["rolled_back"]
    for cached, order in zip(new.actor.cached_orders, trained.mode_orders(0)):
        np.testing.assert_array_equal(cached[0], order)


def test_rewire_next_task_starts_at_the_alignment_minimum_with_identity_adapters():
    """At the start of task 1 the adapters are identities and the anchor is the trained
    body, so Eq. 11 (published form) sits at its minimum `-beta * sum ||W_old||^2`
    (weights and biases of the hidden layers) with a zero gradient for the weights."""
    method = _method("rewire")
    state = method.init(key=jax.random.key(0))
    trained = eqx.tree_at(
        lambda a: a.scores, _perturbed(state.actor, 1), _random_scores(state.actor, 0)
    )
    state, _ = method.end_task(
        state, trained, 0, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
    )
    actor = method.training_actor(state, 1, key=jax.random.key(0))
    for adapter in (*actor.adapter_out, *actor.adapter_in):
        np.testing.assert_array_equal(
            perm.order_from_scores(adapter), np.arange(adapter.shape[0])
        )
    regulariser = method.regulariser(state, 1)
    beta = float(regulariser.beta)
    assert beta == method.spec.losses.align_beta > 0
    minimum = -beta * sum(
        float(jnp.sum(layer.weight**2) + jnp.sum(layer.bias**2))
        for layer in state.anchor.hidden
    )
    np.testing.assert_allclose(float(regulariser(actor)), minimum, rtol=1e-5)
    grads = eqx.filter_grad(lambda a: regulariser(a))(actor)
    rounding = 1e-7 * beta  # the gradient's terms are of order beta * |W|
    for layer in grads.body.hidden:
        np.testing.assert_allclose(layer.weight, 0.0, atol=rounding)
        np.testing.assert_allclose(layer.bias, 0.0, atol=rounding)


@pytest.mark.parametrize("scale", [0.0, 0.1, 1e3])
def test_rewire_noise_facts_measure_the_noisy_update_pass(scale):
    """No noise: nothing displaced, no action shift. Noise far above the score gaps:
    every order a uniform draw, so a neuron keeps its place with chance 1/n. Between,
    the shift equals a direct restatement for the same noise draws."""
    spec = brax_run("halfcheetah_forgetting")
    spec = dataclasses.replace(
        spec, permutation=dataclasses.replace(spec.permutation, noise_scale=scale)
    )
    method = make_method(spec, spec.policy_spec(17, 6))
    actor = method.init(key=jax.random.key(0)).actor
    # scores as after some training: not evenly spaced
    actor = eqx.tree_at(lambda a: a.scores, actor, _random_scores(actor, 3))
    obs = jax.random.normal(jax.random.key(1), (64, 17))
    facts = method.noise_facts(actor, 1, 2, obs, draws=4)
    widths = [s.shape[1] for s in actor.scores]
    if scale == 0.0:
        assert facts["noise_displaced"] == [0.0] * len(widths)
        assert facts["noise_action_shift"] == 0.0
    elif scale > 1:
        for share, n in zip(facts["noise_displaced"], widths):
            assert abs(share - (1 - 1 / n)) < 0.05
    else:
        head = method.policy.head_of_task(2)
        shifts = []
        for key in jax.random.split(jax.random.key(2), 4):
            keys = jax.random.split(key, len(actor.scores))
            orders = [
                np.argsort(np.asarray(s[1] + scale * jax.random.gumbel(k, s[1].shape)))
                for s, k in zip(actor.scores, keys)
            ]
            noisy = actor.with_orders(tuple(jnp.asarray(z, jnp.int32) for z in orders))
            clean = actor.with_mode(1)

            def act(net):
                out = jax.vmap(lambda o: net(o, head=head))(obs)
                return np.tanh(np.asarray(out[:, : out.shape[1] // 2]))

            shifts.append(np.mean(np.abs(act(noisy) - act(clean))))
        np.testing.assert_allclose(facts["noise_action_shift"], np.mean(shifts), rtol=1e-4)
        assert 0 < min(facts["noise_displaced"]) < 1


@pytest.mark.parametrize(("before", "rolled"), [(4.0, False), (5.0, False), (5.5, True)])
def test_rewire_keeps_the_best_mode_and_rolls_back_only_when_strictly_worse(before, rolled):
    method = _method("rewire")
    state = method.init(key=jax.random.key(0))
    first = _perturbed(state.actor, 1)
    state, _ = method.end_task(
        state, first, 0, TaskEnd(evaluate=lambda p: 0.0, reward_before=None)
    )
    start = method.training_actor(state, 1, key=jax.random.key(0))
    trained = eqx.tree_at(
        lambda a: a.scores, _perturbed(start, 2), _random_scores(start, 5)
    )
    evaluate, calls = _mode_evaluator(trained, {0: 1.0, 1: 5.0, 2: 3.0})
    new, facts = method.end_task(
        state, trained, 1, TaskEnd(evaluate=evaluate, reward_before=before)
    )
    assert sorted(calls) == [0, 1, 2] and facts["mode_rewards"] == [1.0, 5.0, 3.0]
    assert facts["rolled_back"] is rolled
    source = start if rolled else trained
    kept = 0 if rolled else 1
    for got, want in zip(new.actor.body.hidden, source.body.hidden):
        np.testing.assert_array_equal(got.weight, want.weight)  # weights kept or restored
    np.testing.assert_array_equal(  # the slot's head: trained, or its value at the start
        new.actor.body.heads.weight[1], source.body.heads.weight[1]
    )
    for cached, order, s in zip(
        new.actor.cached_orders, source.mode_orders(kept), new.actor.scores
    ):
        np.testing.assert_array_equal(cached[1], order)  # cached into slot 1
        for k in range(3):
            np.testing.assert_array_equal(jnp.argsort(s[k]), order)  # modes restart
    for a in new.actor.adapter_out + new.actor.adapter_in:  # new identity adapters
        np.testing.assert_array_equal(jnp.argsort(a), jnp.arange(a.shape[0]))


def test_rewire_slots_repeat_modulo_the_cycle_and_restart_from_the_cached_wiring():
    method = _method("rewire")  # halfcheetah forgetting: 8 tasks, cycle 4
    assert method.policy.num_slots == 4
    state = method.init(key=jax.random.key(0))
    cached = {}
    for task in range(5):
        start = method.training_actor(state, task, key=jax.random.key(task))
        if task == 4:  # slot 0 comes back: every mode starts from slot 0's wiring
            for l, (s, cache) in enumerate(zip(start.scores, state.actor.cached_orders)):
                order = cache[0]  # as refined by the adapters of tasks 1-3
                assert not np.array_equal(order, cached[0][l])
                for k in range(3):
                    np.testing.assert_array_equal(jnp.argsort(s[k]), order)
        for s in start.scores:  # re-spaced evenly at every task start
            np.testing.assert_allclose(
                jnp.sort(s, axis=1), jnp.tile(jnp.linspace(0, 1, s.shape[1]), (3, 1))
            )
        trained = eqx.tree_at(
            lambda a: a.scores, _perturbed(start, task), _random_scores(start, 20 * task)
        )
        state, facts = method.end_task(
            state, trained, task, TaskEnd(evaluate=lambda p: 1.0, reward_before=0.0)
        )
        kept = facts["kept_mode"]
        cached[task % 4] = trained.mode_orders(kept)
        assert method.policy.head_of_task(task) == task % 4
    for task in (0, 4):  # task 4 overwrote slot 0, and task 0 is evaluated with it
        policy = method.policy_for_task(state, task)
        expected = state.actor.with_task(0)
        np.testing.assert_array_equal(policy.hidden[0].weight, expected.hidden[0].weight)
    for got, order in zip(state.actor.cached_orders, cached[0]):
        np.testing.assert_array_equal(got[0], order)


def test_rewire_refines_earlier_slots_with_the_adapters_before_caching_its_own():
    method = _method("rewire")
    state = method.init(key=jax.random.key(0))
    state, _ = method.end_task(
        state, _perturbed(state.actor, 1), 0, TaskEnd(evaluate=lambda p: 0.0)
    )
    start = method.training_actor(state, 1, key=jax.random.key(0))
    adapters_out = _random_scores(start, 30)
    trained = eqx.tree_at(
        lambda a: (a.adapter_out, a.adapter_in),
        _perturbed(start, 2),
        (tuple(s[0] for s in adapters_out), tuple(s[1] for s in adapters_out[1:])),
    )
    new, facts = method.end_task(
        state, trained, 1, TaskEnd(evaluate=lambda p: 1.0, reward_before=0.0)
    )
    from rewire_eqx.networks import refine_cached_orders

    expected = refine_cached_orders(trained, num_slots=1)
    for got, want, own in zip(
        new.actor.cached_orders,
        expected.cached_orders,
        trained.mode_orders(facts["kept_mode"]),
    ):
        np.testing.assert_array_equal(got[0], want[0])  # slot 0 refined (Eq. 12)
        np.testing.assert_array_equal(got[1], own)  # slot 1: the task's own order
    assert not all(
        np.array_equal(a[0], b[0])
        for a, b in zip(new.actor.cached_orders, state.actor.cached_orders)
    )


def test_wiring_lr_labels_only_scores_and_adapters():
    method = _method("rewire")
    actor = method.init(key=jax.random.key(0)).actor
    labels = sac._wiring_labels(eqx.filter(actor, eqx.is_inexact_array))
    assert isinstance(actor, RewiredMLP)
    assert set(jax.tree.leaves((labels.scores, labels.adapter_in, labels.adapter_out))) == {
        "wiring"
    }
    assert set(jax.tree.leaves(labels.body)) == {"weights"}
    assert isinstance(actor.body, PlainMLP)


# ------------------------------------------------------------------------- EWC


def _tiny_policy(seed=0, num_heads=2):
    return PlainMLP(
        3, (4, 3), 4, num_heads=num_heads, key=jax.random.key(seed)
    )  # 2 actions


def test_ewc_fisher_matches_brute_force_per_sample_gradients():
    from rewire_eqx.losses import gaussian_head
    from rewire_eqx.methods.ewc import _hidden_params, _with_hidden_params, diagonal_fisher

    policy = _tiny_policy()
    obs = jax.random.normal(jax.random.key(1), (5, 3))
    fisher = diagonal_fisher(policy, obs, 1, minimum=0.0)
    params = _hidden_params(policy)
    expected = jax.tree.map(jnp.zeros_like, params)
    for x in obs:

        def out(p, x=x):
            return gaussian_head(_with_hidden_params(policy, p)(x, head=1))

        mean, log_std = out(params)
        for a in range(2):
            g_mean = jax.grad(lambda p, a=a: out(p)[0][a])(params)
            g_log_std = jax.grad(lambda p, a=a: out(p)[1][a])(params)
            expected = jax.tree.map(
                lambda e, gm, gs, a=a, log_std=log_std: (
                    e + gm**2 / jnp.exp(2 * log_std[a]) + 2 * gs**2
                ),
                expected,
                g_mean,
                g_log_std,
            )
    expected = jax.tree.map(lambda e: e / obs.shape[0], expected)
    for got, want in zip(jax.tree.leaves(fisher), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)


def test_ewc_fisher_matches_monte_carlo_score_variance():
    """Closed form == E_u[(d log N(u; mu, sigma) / d theta)^2] estimated by sampling."""
    from rewire_eqx.losses import gaussian_head
    from rewire_eqx.methods.ewc import _hidden_params, _with_hidden_params, diagonal_fisher

    policy = _tiny_policy(3)
    x = jnp.array([[0.3, -0.5, 1.0]])
    fisher = diagonal_fisher(policy, x, 0, minimum=0.0)
    params = _hidden_params(policy)

    def log_prob(p, u):
        mean, log_std = gaussian_head(_with_hidden_params(policy, p)(x[0], head=0))
        return jnp.sum(-0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std)

    mean, log_std = gaussian_head(policy(x[0], head=0))
    u = mean + jnp.exp(log_std) * jax.random.normal(jax.random.key(0), (40_000, 2))
    squared = jax.vmap(lambda u: jax.tree.map(jnp.square, jax.grad(log_prob)(params, u)))(u)
    estimate = jax.tree.map(lambda s: jnp.mean(s, axis=0), squared)
    for got, want in zip(jax.tree.leaves(fisher), jax.tree.leaves(estimate)):
        np.testing.assert_allclose(got, want, rtol=0.06, atol=1e-5)


def test_ewc_fisher_is_clipped_from_below_and_the_penalty_matches_numpy():
    from rewire_eqx.methods.ewc import EWCRegulariser, _hidden_params, diagonal_fisher

    policy = _tiny_policy()
    obs = jax.random.normal(jax.random.key(1), (4, 3))
    clipped = diagonal_fisher(policy, obs, 0, minimum=1e3)
    assert all(bool(jnp.all(f == 1e3)) for f in jax.tree.leaves(clipped))
    fisher = diagonal_fisher(policy, obs, 0, minimum=1e-5)
    moved = _perturbed(policy, 5)
    penalty = EWCRegulariser(policy, fisher, 7.0)(moved)
    expected = sum(
        np.sum(np.asarray(f) * (np.asarray(a) - np.asarray(b)) ** 2)
        for f, a, b in zip(
            jax.tree.leaves(fisher),
            jax.tree.leaves(_hidden_params(moved)),
            jax.tree.leaves(_hidden_params(policy)),
        )
    )
    np.testing.assert_allclose(penalty, 7.0 * expected, rtol=1e-4)


def test_ewc_model_size_is_three_and_fishers_add_up_over_tasks():
    method = _method("ewc")
    state = method.init(key=jax.random.key(0))
    assert method.policy_params(state, 8) / method.unit_params() == pytest.approx(3.0)
    obs = jax.random.normal(jax.random.key(1), (8, 17))
    state1, _ = method.end_task(
        state,
        state.actor,
        0,
        TaskEnd(evaluate=lambda p: 0.0, reward_before=None, observations=obs),
    )
    state2, _ = method.end_task(
        state1,
        state1.actor,
        1,
        TaskEnd(evaluate=lambda p: 0.0, reward_before=None, observations=obs),
    )
    for f1, f2 in zip(jax.tree.leaves(state1.fisher), jax.tree.leaves(state2.fisher)):
        np.testing.assert_allclose(
            f2, 2 * f1, rtol=1e-5
        )  # same policy, head 0 then head 1 (a copy)


def test_rewire_task_facts_measure_adapter_movement_residual_and_drift():
    method = _method("rewire")
    state = method.init(key=jax.random.key(0))
    state, _ = method.end_task(
        state, _perturbed(state.actor, 1), 0, TaskEnd(evaluate=lambda p: 0.0)
    )
    start = method.training_actor(state, 1, key=jax.random.key(0))
    facts = method.alignment_facts(state, start)  # nothing moved yet
    assert (
        facts["adapter_out_moved"] == [0.0] * 3 and facts["adapter_in_moved"] == [0.0] * 2
    )
    np.testing.assert_allclose(facts["alignment_residual"], 0.0, atol=1e-7)
    np.testing.assert_allclose(facts["weight_drift"], 0.0, atol=1e-7)
    # swap two output neurons of layer 0 in the adapter and in the weights alike
    swap = jnp.arange(256).at[0].set(1).at[1].set(0)
    layer = start.body.hidden[0]
    moved = eqx.tree_at(
        lambda a: (a.adapter_out, a.body.hidden[0].weight, a.body.hidden[0].bias),
        start,
        (
            (perm.scores_from_order(swap),) + start.adapter_out[1:],
            layer.weight[perm.invert(swap)],
            layer.bias[perm.invert(swap)],
        ),
    )
    facts = method.alignment_facts(state, moved)
    assert facts["adapter_out_moved"][0] == pytest.approx(2 / 256)
    np.testing.assert_allclose(facts["alignment_residual"], 0.0, atol=1e-7)
    assert facts["weight_drift"][0] > 0 and facts["weight_drift"][1] == 0.0


def test_rewire_wiring_moved_counts_the_neurons_a_task_re_placed():
    """Swapping two places of mode 1's layer-0 order and three of layer 2's moves 2/256
    and 3/256 of the neurons from the task's start; the end-of-task fact is the kept
    mode's."""
    method = _method("rewire")
    state = method.init(key=jax.random.key(0))
    state, _ = method.end_task(
        state, _perturbed(state.actor, 1), 0, TaskEnd(evaluate=lambda p: 0.0)
    )
    start = method.training_actor(state, 1, key=jax.random.key(0))
    assert method.wiring_moved(state, 1, start, 0) == [0.0, 0.0, 0.0]
    orders = start.mode_orders(0)
    cycle = jnp.arange(256).at[:3].set(jnp.array([1, 2, 0]))
    new_orders = (
        orders[0][jnp.array([1, 0] + list(range(2, 256)))],
        orders[1],
        orders[2][cycle],
    )
    scores = tuple(
        s.at[1].set(perm.scores_from_order(o)) for s, o in zip(start.scores, new_orders)
    )
    trained = eqx.tree_at(lambda a: a.scores, start, scores)
    assert method.wiring_moved(state, 1, trained, 1) == pytest.approx(
        [2 / 256, 0.0, 3 / 256]
    )
    assert method.wiring_moved(state, 1, trained, 0) == [0.0, 0.0, 0.0]
    # the swap moves two neurons one place each; the 3-cycle moves them 1, 1 and 2
    assert method.wiring_displacement(state, 1, trained, 1) == pytest.approx(
        [2 / 256**2, 0.0, 4 / 256**2]
    )
    evaluate, _ = _mode_evaluator(trained, {0: 1.0, 1: 5.0, 2: 3.0})
    _, facts = method.end_task(
        state, trained, 1, TaskEnd(evaluate=evaluate, reward_before=0.0)
    )
    assert facts["kept_mode"] == 1
    assert facts["wiring_moved"] == pytest.approx([2 / 256, 0.0, 3 / 256])
    assert facts["wiring_displacement"] == pytest.approx([2 / 256**2, 0.0, 4 / 256**2])
