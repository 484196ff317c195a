"""Continual-learning methods behind one interface (`AbstractMethod`)."""

from rewire_eqx.methods.base import AbstractMethod
from rewire_eqx.methods.csp import CSP
from rewire_eqx.methods.ewc import EWC
from rewire_eqx.methods.finetune import FineTune, PolicyPerTask
from rewire_eqx.methods.packnet import PackNet
from rewire_eqx.methods.pnn import PNN
from rewire_eqx.methods.rewire import Rewire
from rewire_eqx.specs import PolicySpec, RunSpec

__all__ = ["AbstractMethod", "make_method"]


def make_method(spec: RunSpec, policy: PolicySpec) -> AbstractMethod:
    """The method named by `spec.method.name`."""
    name = spec.method.name
    if name == "rewire":
        return Rewire(spec, policy)
    if name in ("ft1", "ft_l2"):
        return FineTune(spec, policy, l2=name == "ft_l2")
    if name in ("ftn", "sacn"):
        return PolicyPerTask(spec, policy, fresh=name == "sacn")
    if name == "ewc":
        return EWC(spec, policy)
    if name == "packnet":
        return PackNet(spec, policy)
    if name == "pnn":
        return PNN(spec, policy)
    if name == "csp":
        return CSP(spec, policy)
    raise ValueError(f"unknown method {name!r}")
