"""Environments: interfaces (`base`), probes with known values, a JAX pendulum."""

from rewire_eqx.envs.base import (
    AbstractEnv,
    AbstractVecEnv,
    EnvState,
    JaxVecEnv,
    StepResult,
)
from rewire_eqx.envs.pendulum import Pendulum
from rewire_eqx.envs.probes import ConstantRewardProbe, SignProbe, TwoStepProbe

__all__ = [
    "AbstractEnv",
    "AbstractVecEnv",
    "ConstantRewardProbe",
    "EnvState",
    "JaxVecEnv",
    "Pendulum",
    "SignProbe",
    "StepResult",
    "TwoStepProbe",
]
