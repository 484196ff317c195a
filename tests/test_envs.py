"""Task variants change exactly what they should, and edited envs still step under jit
and vmap. A dynamics edit is proven by a rollout that differs from the normal task's
under the same actions and key (editing a built System's fields can silently do
nothing)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env
from rewire_eqx.envs.domains import make_env
from rewire_eqx.envs.variants import VARIANTS, Variant, get_variant


def test_unknown_domain_and_variant_list_the_valid_names():
    with pytest.raises(ValueError, match="valid domains: .*halfcheetah"):
        get_variant("cheetah", "normal")
    with pytest.raises(ValueError, match="valid: .*hugefoot"):
        get_variant("halfcheetah", "bigfoot")


def test_variants_compose():
    combined = get_variant("halfcheetah", "hugefoot_rainfall")
    assert (
        dict(combined.body_scale) == {"bfoot": 1.5, "ffoot": 1.5}
        and combined.friction == 0.4
    )
    assert get_variant("halfcheetah", "carry_stuff_hugegravity").gravity == 1.5
    both = Variant(invert_actions=True) + Variant(invert_actions=True)
    assert not both.invert_actions


def test_observation_mask_is_a_fixed_half_and_action_edits_are_exact():
    defective = get_variant("halfcheetah", "defective_module")
    mask = defective.obs_scale(17)
    assert mask.sum() == 17 - round(0.5 * 17)
    np.testing.assert_array_equal(mask, defective.obs_scale(17))  # fixed subset
    np.testing.assert_array_equal(
        get_variant("ant", "disabled_forefeet").action_scale(8), [0, 0, 0, 0, 1, 1, 1, 1]
    )
    np.testing.assert_array_equal(
        get_variant("ant", "disabled_hard2").action_scale(8), [0, 0, 1, 1, 0, 0, 0, 0]
    )
    np.testing.assert_array_equal(
        get_variant("ant", "inverted_actions").action_scale(8), -np.ones(8)
    )


@pytest.mark.parametrize(
    ("domain", "task", "bodies", "factor"),
    [
        ("halfcheetah", "hugefoot", ("bfoot", "ffoot"), 1.5),
        ("halfcheetah", "carry_stuff", ("torso",), 4.0),
        ("ant", "hugefoot", ("feet",), 1.5),
        ("humanoid", "tinyfeet", ("right_shin", "left_shin"), 0.5),
        ("humanoid", "carrystuff", ("torso", "lwaist"), 4.0),
    ],
)
def test_body_scaling_edits_only_the_named_bodies_in_the_compiled_system(
    domain, task, bodies, factor
):
    import mujoco

    normal, edited = brax_env(domain), brax_env(domain, get_variant(domain, task))
    model = normal.sys.mj_model
    if bodies == ("feet",):  # the four lower legs: unnamed children of aux_1..aux_4
        ids = [
            b
            for b in range(model.nbody)
            if mujoco.mj_id2name(
                model, mujoco.mjtObj.mjOBJ_BODY, int(model.body_parentid[b])
            )
            in ("aux_1", "aux_2", "aux_3", "aux_4")
        ]
        assert len(ids) == 4
    else:
        ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, b) for b in bodies]
    mass0, mass1 = np.asarray(normal.sys.body_mass), np.asarray(edited.sys.body_mass)
    for body in range(model.nbody):
        expected = factor if body in ids else 1.0
        np.testing.assert_allclose(mass1[body], mass0[body] * expected, rtol=1e-6)
    radius0, radius1 = (
        np.asarray(normal.sys.geom_size)[:, 0],
        np.asarray(edited.sys.geom_size)[:, 0],
    )
    for geom, body in enumerate(model.geom_bodyid):
        scaled = body in ids and model.geom_type[geom] in (2, 3)
        np.testing.assert_allclose(
            radius1[geom], radius0[geom] * (factor if scaled else 1.0), rtol=1e-6
        )
    np.testing.assert_array_equal(
        np.asarray(edited.sys.opt.gravity), np.asarray(normal.sys.opt.gravity)
    )


def test_gravity_and_friction_edits_in_the_compiled_system():
    normal = brax_env("halfcheetah")
    moon = brax_env("halfcheetah", get_variant("halfcheetah", "moon"))
    rain = brax_env("halfcheetah", get_variant("halfcheetah", "rainfall"))
    np.testing.assert_allclose(
        np.asarray(moon.sys.opt.gravity),
        np.asarray(normal.sys.opt.gravity) * 0.15,
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        np.asarray(rain.sys.geom_friction)[:, 0],
        np.asarray(normal.sys.geom_friction)[:, 0] * 0.4,
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        np.asarray(rain.sys.body_mass), np.asarray(normal.sys.body_mass)
    )


@pytest.mark.slow
def test_halfcheetah_variants_change_the_rollout_and_step_under_jit_and_vmap():
    """One compiled rollout (the System is an input): every dynamics variant's
    trajectory differs from the normal one under the same actions and key."""
    steps, envs = 40, 2
    actions = jax.random.uniform(jax.random.key(0), (steps, envs, 6), minval=-1, maxval=1)

    @eqx.filter_jit
    def rollout(env):
        vec = JaxVecEnv(env, num_envs=envs, episode_length=1000)
        state = vec.reset(jax.random.key(1))

        def step(state, action):
            state, result = vec.step(state, action)
            return state, (result.next_obs, result.reward)

        return jax.lax.scan(step, state, actions)[1]

    tasks = [
        "normal",
        "moon",
        "hugefoot",
        "carry_stuff",
        "rainfall",
        "defective_module",
        "inverted_actions",
    ]
    results = {t: rollout(make_env("halfcheetah", t)) for t in tasks}
    obs0, reward0 = results["normal"]
    assert np.isfinite(np.asarray(obs0)).all()
    for task in tasks[1:]:
        obs, reward = results[task]
        assert not np.allclose(np.asarray(obs), np.asarray(obs0), atol=1e-4), task
    # the mask zeroes exactly its entries of the observation
    mask = get_variant("halfcheetah", "defective_module").obs_scale(17)
    assert np.all(np.asarray(results["defective_module"][0])[..., mask == 0] == 0)


def test_pendulum_variants_act_as_specified():
    normal, inverted = (
        make_env("pendulum", "normal"),
        make_env("pendulum", "inverted_actions"),
    )
    state, _ = normal.reset(jax.random.key(0))
    a = jnp.array([0.7])
    _, obs_n, r_n, _ = normal.step(state, -a)
    _, obs_i, r_i, _ = inverted.step(state, a)
    np.testing.assert_allclose(obs_n, obs_i, rtol=1e-6)
    heavy = make_env("pendulum", "heavy")
    _, obs_h, _, _ = heavy.step(state, a)
    _, obs_0, _, _ = normal.step(state, a)
    assert not np.allclose(obs_h, obs_0)
    assert (
        float(heavy.env.mass) == 1.5
        and float(make_env("pendulum", "moon").env.gravity) == 5.0
    )


def test_every_registered_variant_builds_for_the_cheap_domains():
    for task in VARIANTS["pendulum"]:
        env = make_env("pendulum", task)
        assert env.obs_size == 3 and env.action_size == 1


def test_humanoid_is_healthy_with_its_torso_between_0_8_and_2_1():
    env = brax_env("humanoid")
    assert env.env._healthy_z_range == (0.8, 2.1)
