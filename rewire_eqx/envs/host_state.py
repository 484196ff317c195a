"""The whole state of a host (gymnasium) environment, taken and put back exactly.

A mid-task checkpoint of a run on host-stepped envs (Meta-World) needs what the envs keep
outside `EnvState`: the simulator, the goal, the episode's step count and the env's
random generator. `take(env)` gathers it from every layer of `env` (its wrappers and the
env itself); `put_back(env, snapshot)` writes it into an env built the same way (in
another process, say), after which both step identically.

Per layer, every attribute is deep-copied, except the MuJoCo objects, which are handled
field by field:

* `mujoco.MjData`: its full integration state (`mujoco.mj_getState` with
  `mjSTATE_INTEGRATION`: time, positions, velocities, actuator activations, controls,
  applied forces, mocap poses, the solver's warm start, ...). On restore, `mj_forward`
  recomputes the derived quantities from it; it also moves the warm start (by about
  1e-14, enough to change later steps), so the state is set again after it;
* `mujoco.MjModel`: every array of at most `MODEL_ARRAY_BYTES` bytes. Tasks move bodies
  and sites of the model at reset (Meta-World places its objects and goals there); the
  larger arrays are static geometry (meshes, textures, bounding volumes) and stay as
  built;
* a renderer (`MujocoRenderer`) is left alone: it only draws.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import mujoco
import numpy as np

__all__ = ["MODEL_ARRAY_BYTES", "put_back", "take"]

MODEL_ARRAY_BYTES = 65_536
_STATE = mujoco.mjtState.mjSTATE_INTEGRATION


def _layers(env) -> list:
    """`env`, then every env it wraps (gymnasium wrappers keep theirs in `.env`)."""
    layers = [env]
    while hasattr(layers[-1], "env"):
        layers.append(layers[-1].env)
    return layers


def _is_renderer(value) -> bool:
    return type(value).__module__.startswith("gymnasium.envs.mujoco.mujoco_rendering")


def _model_arrays(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    arrays = {}
    for name in dir(model):
        if name.startswith("_"):
            continue
        value = getattr(model, name, None)
        if isinstance(value, np.ndarray) and value.nbytes <= MODEL_ARRAY_BYTES:
            arrays[name] = value.copy()
    return arrays


def _models_of(layer) -> dict[int, mujoco.MjModel]:
    return {id(v): v for v in vars(layer).values() if isinstance(v, mujoco.MjModel)}


def _take_layer(layer) -> dict[str, tuple[str, Any]]:
    models = _models_of(layer)
    taken: dict[str, tuple[str, Any]] = {}
    for name, value in vars(layer).items():
        if name == "env" or _is_renderer(value):
            continue
        if isinstance(value, mujoco.MjModel):
            taken[name] = ("model", _model_arrays(value))
        elif isinstance(value, mujoco.MjData):
            (model,) = models.values()  # the data's own model, in the same layer
            state = np.empty(mujoco.mj_stateSize(model, _STATE), np.float64)
            mujoco.mj_getState(model, value, state, _STATE)
            taken[name] = ("data", state)
        else:
            taken[name] = ("value", copy.deepcopy(value))
    return taken


def take(env) -> bytes:
    """The state of `env` and of every env it wraps, as bytes (see the module doc)."""
    return pickle.dumps([_take_layer(layer) for layer in _layers(env)])


def put_back(env, snapshot: bytes) -> None:
    """Write `snapshot` (from `take` on an env built the same way) into `env`."""
    layers = _layers(env)
    taken = pickle.loads(snapshot)
    if len(taken) != len(layers):
        raise ValueError(
            f"the snapshot has {len(taken)} env layers, this env {len(layers)}: "
            "it was taken from an env built differently"
        )
    for layer, items in zip(layers, taken):
        datas = []
        for name, (kind, value) in items.items():
            if kind == "model":
                model = getattr(layer, name)
                for field, array in value.items():
                    getattr(model, field)[...] = array
            elif kind == "data":
                datas.append((name, value))
            else:
                setattr(layer, name, copy.deepcopy(value))
        for name, state in datas:  # after the model, whose arrays the data depends on
            (model,) = _models_of(layer).values()
            data = getattr(layer, name)
            mujoco.mj_setState(model, data, state, _STATE)
            mujoco.mj_forward(model, data)  # the derived quantities ...
            mujoco.mj_setState(model, data, state, _STATE)  # ... and the warm start kept
