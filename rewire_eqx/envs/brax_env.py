"""Brax environments behind the `AbstractEnv` interface (brax is used for physics only),
with dynamics variants applied to the MuJoCo model.

Editing fields of a built brax `System` does not reliably change the simulation (derived
fields keep the old values), so a variant edits the `mujoco.MjModel` (body mass and
inertia, geom radius, gravity, friction), recomputes its derived constants with
`mj_setConst`, and builds a new `System` from it with `brax.io.mjcf.load_model`. The
`System` is an array field of `BraxEnv`, so tasks of one domain share one compiled
program.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings

import equinox as eqx
import jax
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from rewire_eqx.envs.base import AbstractEnv
from rewire_eqx.envs.variants import Variant

__all__ = ["BRAX_DOMAINS", "ENV_OPTIONS", "BraxEnv", "brax_env", "edit_model"]

BRAX_DOMAINS = {
    "halfcheetah": "half_cheetah.xml",
    "ant": "ant.xml",
    "humanoid": "humanoid.xml",
}
"""brax environment name -> its MJCF asset."""

ENV_OPTIONS: dict[str, dict] = {"humanoid": {"healthy_z_range": (0.8, 2.1)}}
"""Options of brax's env constructors set to the published code's values: the humanoid
is healthy while its torso is 0.8-2.1 high (brax's default is 1.0-2.0)."""

_SPHERE, _CAPSULE = 2, 3


@contextlib.contextmanager
def _quiet_brax():
    """brax 0.14 warns on every System it builds that it is unmaintained; we know."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Brax System", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


class BraxEnv(AbstractEnv):
    """Adapts a `brax.envs.PipelineEnv`, stepping it with the `sys` held here.

    `done` from brax is termination; truncation and automatic reset are done by
    `JaxVecEnv`, not by brax's training wrappers.
    """

    env: object = eqx.field(static=True)  # the brax env (not a PyTree)
    sys: PyTree  # its System (arrays): the task's dynamics

    def _bound(self):
        env = copy.copy(self.env)
        env.sys = self.sys
        return env

    @property
    def obs_size(self) -> int:
        return int(self.env.observation_size)

    @property
    def action_size(self) -> int:
        return int(self.env.action_size)

    def reset(self, key: PRNGKeyArray):
        state = self._bound().reset(key)
        return state, state.obs

    def step(self, state, action):
        new = self._bound().step(state, action)
        return new, new.obs, new.reward, new.done.astype(bool)


def _body_id(model, name: str) -> int:
    import mujoco

    if name.startswith("#"):
        return int(name[1:])
    index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if index < 0:
        names = [
            mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i)
            for i in range(model.nbody)
        ]
        raise ValueError(f"no body {name!r} in the model; bodies: {names}")
    return index


def edit_model(model, variant: Variant):
    """A copy of a `mujoco.MjModel` with the variant's dynamics edits applied."""
    import mujoco

    model = copy.deepcopy(model)
    for name, factor in variant.body_scale:
        body = _body_id(model, name)
        model.body_mass[body] *= factor
        model.body_inertia[body] *= factor
        for geom in np.flatnonzero(model.geom_bodyid == body):
            if model.geom_type[geom] in (_SPHERE, _CAPSULE):
                model.geom_size[geom, 0] *= factor
    model.opt.gravity[:] = model.opt.gravity * variant.gravity
    model.geom_friction[:, 0] *= variant.friction
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


@functools.cache
def _base(name: str, backend: str):
    """The brax env as brax builds it (its System carries the `MjModel` it came from)."""
    from brax import envs

    with _quiet_brax():
        return envs.get_environment(name, backend=backend, **ENV_OPTIONS.get(name, {}))


def brax_env(
    name: str, variant: Variant | None = None, *, backend: str = "generalized"
) -> BraxEnv:
    """`BraxEnv` for a brax domain with a variant's dynamics edits.

    The edited System keeps the original's static structure (its `mj_model` reference
    included), so every variant of a domain runs in the same compiled program. brax's
    own tweaks of the System for a backend (time step, gears for `spring` and
    `positional`) are carried over; a field both tweaked by the backend and edited by
    the variant is an error.
    """
    from brax.io import mjcf

    if name not in BRAX_DOMAINS:
        raise ValueError(f"unknown brax domain {name!r}; valid: {sorted(BRAX_DOMAINS)}")
    env = _base(name, backend)
    variant = Variant() if variant is None else variant
    if not variant.edits_dynamics:
        return BraxEnv(env=env, sys=env.sys)
    model = env.sys.mj_model
    with _quiet_brax():
        raw_sys = mjcf.load_model(model).replace(mj_model=model)
        new_sys = mjcf.load_model(edit_model(model, variant)).replace(mj_model=model)
    structure = jax.tree_util.tree_structure(env.sys)
    if jax.tree_util.tree_structure(new_sys) != structure:
        raise ValueError(f"variant {variant} changed the structure of the {name} System")

    def merge(path, built, raw, new):
        tweaked = np.shape(built) != np.shape(raw) or not np.array_equal(
            np.asarray(built), np.asarray(raw)
        )
        if not tweaked:
            return new
        if not np.array_equal(np.asarray(new), np.asarray(raw)):
            raise ValueError(
                f"variant edits {jax.tree_util.keystr(path)}, which backend {backend!r} "
                "also changes; use backend='generalized'"
            )
        return built

    merged = jax.tree_util.tree_map_with_path(merge, env.sys, raw_sys, new_sys)
    return BraxEnv(env=env, sys=jax.tree.map(jax.numpy.asarray, merged))
