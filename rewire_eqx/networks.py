"""Equinox policy networks: a plain MLP and the rewired MLP of Section 3 (Eq. 2-12).

Every module acts on one sample; callers `jax.vmap`. Selecting a wiring (a mode of the
current task, or the cached wiring of a past task) *materialises* a `PlainMLP` whose
hidden weight rows are permuted: `sigma(P (W h + b)) == sigma((P W) h + P b)`. Under
`vmap` the permuted weights do not depend on the batch, so they are computed once.

Conventions for the alignment adapters (Eq. 9-12), in the published code's form. For
hidden layer `l` let `Z_l = P(adapter_out[l])` and `A_l = P(adapter_in[l-1])` be the
straight-through permutation matrices of the adapter scores (SoftSort with tau_2). The
anchor's weights are aligned as `Z_l^T W_l^{t-1} A_l` (biases `Z_l^T b_l^{t-1}`):

* every hidden layer has an output-side adapter `adapter_out[l]`;
* hidden layers 2.. have an input-side adapter, stored as `adapter_in[l-1]`; the first
  layer's inputs are observations and the head has no adapter (task heads are not
  regularised; a shared head gets plain L2, as in the published code).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, Scalar

from rewire_eqx import permutation as perm

__all__ = [
    "ACTIVATIONS",
    "ADAPTER_FORMS",
    "AbstractPolicyFn",
    "AbstractPolicyNet",
    "ParameterCounts",
    "PlainMLP",
    "RewiredMLP",
    "aligned_anchor_layer",
    "alignment_loss",
    "cache_wiring",
    "hidden_activation",
    "l2_loss",
    "layer_norm",
    "parameter_counts",
    "refine_cached_orders",
    "reset_adapters",
    "respace_scores",
    "restart_scores",
    "restart_scores_from_slot",
]

ADAPTER_FORMS = ("paper", "code")
"""How the adapters move the anchor in Eq. 11: `Z W A^T` (the paper's equation, with
`P'' = Z` and `P' = A` SoftSort matrices like the wirings of Eq. 3-4) or `Z^T W A` (the
published code's `zp.T @ W_old @ ap`)."""

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, negative_slope=0.2),
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "silu": jax.nn.silu,
    "gelu": jax.nn.gelu,
}
"""Elementwise activations by name (`leaky_relu` has slope 0.2, as in the paper)."""


def layer_norm(x: Float[Array, "... n"], eps: float = 1e-5) -> Float[Array, "... n"]:
    """LayerNorm over the last axis without learned scale or shift: permuting the
    entries of `x` permutes the output the same way."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


def hidden_activation(
    activation: str, first_layer_norm: bool, index: int
) -> Callable[[Array], Array]:
    """The nonlinearity after hidden layer `index`: `tanh(layer_norm(.))` after the
    first one with `first_layer_norm` (Continual World's body), else the activation."""
    if index == 0 and first_layer_norm:
        return lambda z: jnp.tanh(layer_norm(z))
    return ACTIVATIONS[activation]


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is not known; valid choices: {sorted(ACTIVATIONS)}"
        )


def _select(tree, index):
    """Index the leading axis of every array leaf (select one head of a stack)."""
    return jax.tree.map(lambda a: a[index], tree)


def _weight_and_bias(layer: eqx.nn.Linear) -> Float[Array, "out in_plus_1"]:
    return jnp.concatenate([layer.weight, layer.bias[:, None]], axis=1)


def _with_weight_and_bias(
    layer: eqx.nn.Linear, stacked: Float[Array, "out in_plus_1"]
) -> eqx.nn.Linear:
    return eqx.tree_at(
        lambda lin: (lin.weight, lin.bias), layer, (stacked[:, :-1], stacked[:, -1])
    )


class AbstractPolicyFn(eqx.Module):
    """A network ready to act: `net(x, head=h)` maps one observation to the head's
    outputs (mean and log-std). Plain, masked (PackNet), columnar (PNN) and subspace
    (CSP) policies all present themselves this way to the learner."""

    @abc.abstractmethod
    def __call__(
        self, x: Float[Array, " in_size"], *, head: Int[Array, ""] | int = 0
    ) -> Float[Array, " out_size"]: ...


class AbstractPolicyNet(eqx.Module):
    """A policy body with task heads, called through a chosen wiring.

    `with_mode(mode)` gives the network that acts on the current task in mode `mode`;
    `with_task(task)` gives the network stored for a past task. Both return an
    `AbstractPolicyFn` (a `PlainMLP` for plain and rewired networks), called as
    `net(x, head=h)`.
    """

    @abc.abstractmethod
    def with_mode(
        self, mode: Int[Array, ""] | int, *, key: PRNGKeyArray | None = None
    ) -> AbstractPolicyFn:
        """The network acting on the current task in mode `mode`."""

    @abc.abstractmethod
    def with_task(self, task: Int[Array, ""] | int) -> AbstractPolicyFn:
        """The network stored for task `task`."""

    @property
    @abc.abstractmethod
    def num_modes(self) -> int:
        """Number of wirings trained at once (1 for a plain network)."""


class PlainMLP(AbstractPolicyNet, AbstractPolicyFn):
    """An MLP `W_L o sigma o W_{L-1} o ... o sigma o W_1` (Eq. 1) with stacked task heads.

    **Arguments:**

    - `in_size`, `out_size`: input and head output sizes.
    - `hidden_sizes`: width of each hidden layer (at least one).
    - `num_heads`: number of task-specific heads (1 for a shared head). All heads start
      equal (a new task's head is a copy of the previous one).
    - `activation`: a key of `ACTIVATIONS`.
    - `dropout`: rate of the Dropout applied to the outputs of the hidden linear layers
      when the call is given a `key` (collection and updates); never without one
      (evaluation). The published code uses 0.1 in the scenarios without Gumbel noise.
    - `first_layer_norm`: `tanh(layer_norm(.))` after the first hidden layer instead of
      the activation (Continual World's body; the LayerNorm has no parameters).
    - `key`: PRNG key.
    """

    hidden: tuple[eqx.nn.Linear, ...]
    heads: eqx.nn.Linear  # every array has a leading `num_heads` axis
    activation: str = eqx.field(static=True)
    dropout: float = eqx.field(static=True)
    first_layer_norm: bool = eqx.field(static=True, default=False)

    def __init__(
        self,
        in_size: int,
        hidden_sizes: tuple[int, ...],
        out_size: int,
        *,
        num_heads: int = 1,
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        first_layer_norm: bool = False,
        key: PRNGKeyArray,
    ):
        _check_activation(activation)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout} must be in [0, 1)")
        if len(hidden_sizes) < 1 or min(hidden_sizes) < 1:
            raise ValueError(
                f"hidden_sizes={hidden_sizes!r} must be non-empty and positive"
            )
        if num_heads < 1:
            raise ValueError(f"num_heads={num_heads} must be >= 1")
        sizes = (in_size, *hidden_sizes)
        hidden_key, head_key = jax.random.split(key)
        layer_keys = jax.random.split(hidden_key, len(hidden_sizes))
        self.hidden = tuple(
            eqx.nn.Linear(sizes[i], sizes[i + 1], key=layer_keys[i])
            for i in range(len(hidden_sizes))
        )
        head = eqx.nn.Linear(hidden_sizes[-1], out_size, key=head_key)
        self.heads = jax.tree.map(lambda a: jnp.stack([a] * num_heads), head)
        self.activation = activation
        self.dropout = float(dropout)
        self.first_layer_norm = bool(first_layer_norm)

    @property
    def num_heads(self) -> int:
        return self.heads.weight.shape[0]

    @property
    def num_modes(self) -> int:
        return 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(layer.out_features for layer in self.hidden)

    def head(self, index: Int[Array, ""] | int) -> eqx.nn.Linear:
        """The head of task slot `index` (a traced index is fine)."""
        return _select(self.heads, index)

    def dropout_masks(
        self, key: PRNGKeyArray, batch_shape: tuple[int, ...] = ()
    ) -> Bool[Array, "*batch units"]:
        """Dropout's keep-masks (each unit kept with probability `1 - dropout`), every
        hidden layer's units side by side, for `batch_shape` passes: one random draw for
        all of them, instead of a key split and a draw per sample and layer (timings:
        `docs/benchmarks.md`, Continual World)."""
        shape = (*batch_shape, sum(self.hidden_sizes))
        return jax.random.bernoulli(key, 1.0 - self.dropout, shape)

    def features(
        self,
        x: Float[Array, " in_size"],
        *,
        key: PRNGKeyArray | None = None,
        keep: Bool[Array, " units"] | None = None,
    ) -> Float[Array, " n"]:
        """The last hidden layer's activations. With `dropout > 0`, Dropout acts on the
        linear outputs when given `keep` (masks from `dropout_masks`) or a `key` to
        draw them; never otherwise (evaluation)."""
        if keep is None and key is not None and self.dropout > 0:
            keep = self.dropout_masks(key)
        drop = keep is not None and self.dropout > 0
        start = 0
        for index, layer in enumerate(self.hidden):
            out = layer(x)
            if drop:
                kept = keep[start : start + layer.out_features]
                out = jnp.where(kept, out / (1.0 - self.dropout), 0.0)
                start += layer.out_features
            x = hidden_activation(self.activation, self.first_layer_norm, index)(out)
        return x

    def __call__(
        self,
        x: Float[Array, " in_size"],
        *,
        head: Int[Array, ""] | int = 0,
        key: PRNGKeyArray | None = None,
        keep: Bool[Array, " units"] | None = None,
    ) -> Float[Array, " out_size"]:
        return self.head(head)(self.features(x, key=key, keep=keep))

    def with_mode(self, mode, *, key=None) -> PlainMLP:
        return self

    def with_task(self, task) -> PlainMLP:
        return self


class RewiredMLP(AbstractPolicyNet):
    """The rewired policy network: `W_L o sigma o P_{L-1} W_{L-1} o ... o sigma o P_1 W_1`.

    Holds the weights (a `PlainMLP` body), K score vectors per hidden layer (multi-mode
    rewiring, Eq. 5), the cached order of every task slot per hidden layer (task t uses
    slot `t mod cycle`), and the alignment adapters' score vectors (Eq. 9-12).

    **Arguments:**

    - `body`: the weights and heads.
    - `num_modes`: K, the number of wirings trained at once.
    - `num_slots`: capacity of the wiring cache (one order per slot and hidden layer).
    - `tau`: SoftSort temperature of the score vectors (Eq. 4).
    - `noise_scale`: scale of the Gumbel noise added to scores in training.
    - `noisy_forward`: True (the published code) takes the hard order of a noisy pass
      from the noisy scores; False (our extension) keeps the noise-free hard order in
      the forward pass and puts the noise in the SoftSort backward only.
    - `adapter_tau`: SoftSort temperature of the alignment adapters (tau_2).
    - `adapter_form`: `"paper"` aligns the anchor as `Z W_old A^T` (Eq. 11 as written,
      `P'' = Z`, `P' = A`); `"code"` as `Z^T W_old A` (the published code:
      `zp.T @ W_old @ ap`). Both reach every permutation with hard adapters and refine
      the cached orders to match; they differ in the SoftSort gradient the adapter
      scores receive (see `docs/fidelity.md`).
    """

    body: PlainMLP
    scores: tuple[Float[Array, "modes n"], ...]
    cached_orders: tuple[Int[Array, "slots n"], ...]
    adapter_out: tuple[Float[Array, " n"], ...]
    adapter_in: tuple[Float[Array, " n"], ...]
    tau: float = eqx.field(static=True)
    noise_scale: float = eqx.field(static=True)
    adapter_tau: float = eqx.field(static=True)
    adapter_form: str = eqx.field(static=True)
    noisy_forward: bool = eqx.field(static=True)

    def __init__(
        self,
        body: PlainMLP,
        *,
        num_modes: int = 3,
        num_slots: int = 1,
        tau: float = 1.0,
        noise_scale: float = 0.1,
        adapter_tau: float = 0.1,
        adapter_form: str = "paper",
        noisy_forward: bool = True,
    ):
        if adapter_form not in ADAPTER_FORMS:
            raise ValueError(
                f"adapter_form={adapter_form!r} is not known; valid choices: {ADAPTER_FORMS}"
            )
        if num_modes < 1:
            raise ValueError(f"num_modes={num_modes} must be >= 1")
        if num_slots < 1:
            raise ValueError(f"num_slots={num_slots} must be >= 1")
        if not tau > 0 or not adapter_tau > 0:
            raise ValueError(f"tau={tau} and adapter_tau={adapter_tau} must be > 0")
        if not noise_scale >= 0:
            raise ValueError(f"noise_scale={noise_scale} must be >= 0")
        widths = body.hidden_sizes
        self.body = body
        self.scores = tuple(
            jnp.tile(perm.identity_scores(n), (num_modes, 1)) for n in widths
        )
        self.cached_orders = tuple(
            jnp.tile(perm.identity_order(n), (num_slots, 1)) for n in widths
        )
        self.adapter_out = tuple(perm.identity_scores(n) for n in widths)
        self.adapter_in = tuple(perm.identity_scores(n) for n in widths[:-1])
        self.tau = float(tau)
        self.noise_scale = float(noise_scale)
        self.adapter_tau = float(adapter_tau)
        self.adapter_form = adapter_form
        self.noisy_forward = bool(noisy_forward)

    @property
    def num_modes(self) -> int:
        return self.scores[0].shape[0]

    @property
    def num_slots(self) -> int:
        return self.cached_orders[0].shape[0]

    @property
    def dropout(self) -> float:
        return self.body.dropout

    def mode_orders(self, mode: Int[Array, ""] | int) -> tuple[Int[Array, " n"], ...]:
        """The hard order of every hidden layer in mode `mode`."""
        return tuple(perm.order_from_scores(s[mode]) for s in self.scores)

    def with_mode(
        self, mode: Int[Array, ""] | int, *, key: PRNGKeyArray | None = None
    ) -> PlainMLP:
        """The network of mode `mode`: hard forward, SoftSort backward (Eq. 3-4).

        The scores' gradient is multiplied by K (Section 3.3). With `key`, Gumbel noise
        of scale `noise_scale` is added to the scores: the published code does this in
        the SoftSort pass of gradient updates only, never in collection or evaluation,
        and its hard forward order is then the noisy one. With `noisy_forward=False`
        (our extension) the forward keeps the noise-free order and the noise enters the
        SoftSort backward only.
        """
        keys = (
            [None] * len(self.scores)
            if key is None
            else list(jax.random.split(key, len(self.scores)))
        )
        layers = []
        for layer, layer_scores, layer_key in zip(self.body.hidden, self.scores, keys):
            scores = perm.scale_gradient(layer_scores[mode], float(self.num_modes))
            backward_noise = None
            if layer_key is not None and self.noise_scale > 0:
                if self.noisy_forward:
                    scores = perm.perturb_scores(
                        scores, scale=self.noise_scale, key=layer_key
                    )
                else:
                    backward_noise = perm.perturb_scores(
                        jnp.zeros_like(scores), scale=self.noise_scale, key=layer_key
                    )
            permuted = perm.straight_through_permute(
                scores, _weight_and_bias(layer), self.tau, backward_noise=backward_noise
            )
            layers.append(_with_weight_and_bias(layer, permuted))
        return eqx.tree_at(lambda b: b.hidden, self.body, tuple(layers))

    def with_task(self, slot: Int[Array, ""] | int) -> PlainMLP:
        """The network of task slot `slot`: its cached orders on the current weights."""
        return self.with_orders(tuple(orders[slot] for orders in self.cached_orders))

    def with_orders(self, orders: tuple[Int[Array, " _n"], ...]) -> PlainMLP:
        """The current weights with the given hard order of every hidden layer (no
        gradient to any score vector)."""
        layers = tuple(
            _with_weight_and_bias(layer, perm.apply_to_rows(order, _weight_and_bias(layer)))
            for layer, order in zip(self.body.hidden, orders)
        )
        return eqx.tree_at(lambda b: b.hidden, self.body, layers)

    def __call__(
        self,
        x: Float[Array, " in_size"],
        *,
        head: Int[Array, ""] | int = 0,
        mode: Int[Array, ""] | int = 0,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " out_size"]:
        return self.with_mode(mode, key=key)(x, head=head)


# ---------------------------------------------------------------- task-end functions


def cache_wiring(
    net: RewiredMLP, *, mode: Int[Array, ""] | int, slot: Int[Array, ""] | int
) -> RewiredMLP:
    """Store the hard orders of mode `mode` as the cached wiring of slot `slot`."""
    orders = tuple(
        cache.at[slot].set(order)
        for cache, order in zip(net.cached_orders, net.mode_orders(mode))
    )
    return eqx.tree_at(lambda n: n.cached_orders, net, orders)


def refine_cached_orders(net: RewiredMLP, *, num_slots: Int[Array, ""] | int) -> RewiredMLP:
    """Refine the cached orders of slots `0..num_slots-1` with the adapters, Eq. 12.

    With `zo_l = argsort(adapter_out[l])` and `ao_{l+1} = argsort(adapter_in[l])` (the
    next layer's input-side adapter; none after the last hidden layer), every cached
    order becomes `z <- invert(zo_l)[z][ao_{l+1}]` (the `"paper"` form, `P' P^s P''^T`);
    with the `"code"` form `z <- zo_l[z][invert(ao_{l+1})]`, the published update. If the
    weights
    equal the aligned anchor (zero alignment residual), the refined orders on the new
    weights reproduce every old slot's outputs exactly. Later rows of the cache are left
    untouched.
    """
    published = net.adapter_form == "code"
    outer = [perm.order_from_scores(s) for s in net.adapter_out]
    next_inner = [perm.order_from_scores(s) for s in net.adapter_in]
    refined = []
    for l, cache in enumerate(net.cached_orders):
        after = None
        if l < len(next_inner):
            after = perm.invert(next_inner[l]) if published else next_inner[l]
        z_out = outer[l] if published else perm.invert(outer[l])

        def refine(z, z_out=z_out, after=after):
            z = perm.compose(z, z_out)  # z_out[z]
            return perm.compose(after, z) if after is not None else z  # z[after]

        new = jax.vmap(refine)(cache)
        rows = jnp.arange(cache.shape[0]) < num_slots
        refined.append(jnp.where(rows[:, None], new, cache))
    return eqx.tree_at(lambda n: n.cached_orders, net, tuple(refined))


def reset_adapters(net: RewiredMLP) -> RewiredMLP:
    """Identity adapters (created at the end of every task, after the refinement)."""
    return eqx.tree_at(
        lambda n: (n.adapter_out, n.adapter_in),
        net,
        (
            tuple(perm.identity_scores(s.shape[0]) for s in net.adapter_out),
            tuple(perm.identity_scores(s.shape[0]) for s in net.adapter_in),
        ),
    )


def restart_scores(net: RewiredMLP, *, mode: Int[Array, ""] | int) -> RewiredMLP:
    """Restart all K score vectors from the hard order of mode `mode` (the kept wiring)."""
    scores = tuple(
        jnp.tile(perm.scores_from_order(order), (net.num_modes, 1))
        for order in net.mode_orders(mode)
    )
    return eqx.tree_at(lambda n: n.scores, net, scores)


def restart_scores_from_slot(net: RewiredMLP, *, slot: Int[Array, ""] | int) -> RewiredMLP:
    """Restart all K score vectors from slot `slot`'s cached wiring (a repeated slot
    resumes from the wiring it stored)."""
    scores = tuple(
        jnp.tile(perm.scores_from_order(cache[slot]), (net.num_modes, 1))
        for cache in net.cached_orders
    )
    return eqx.tree_at(lambda n: n.scores, net, scores)


def respace_scores(net: RewiredMLP) -> RewiredMLP:
    """Re-space every score vector evenly on [0, 1], keeping its order (the rank of
    each score, rescaled), as the published code does at every task start."""
    scores = tuple(
        jax.vmap(lambda v: perm.scores_from_order(perm.order_from_scores(v)))(s)
        for s in net.scores
    )
    return eqx.tree_at(lambda n: n.scores, net, scores)


# -------------------------------------------------------------------------- losses


def l2_loss(body: PlainMLP, anchor: PlainMLP) -> Scalar:
    """Weight regulariser of Eq. 7: `sum_l ||W_l - W_l^{t-1}||^2` (biases included).

    Sums over the hidden layers, and over the head when a single head is shared by all
    tasks (task-specific heads are frozen per task instead).
    """
    layers, old_layers = list(body.hidden), list(anchor.hidden)
    if body.num_heads == 1:
        layers.append(body.head(0))
        old_layers.append(anchor.head(0))
    total = jnp.zeros(())
    for layer, old in zip(layers, old_layers):
        total = total + jnp.sum((layer.weight - old.weight) ** 2)
        total = total + jnp.sum((layer.bias - old.bias) ** 2)
    return total


def aligned_anchor_layer(
    net: RewiredMLP, anchor: PlainMLP, layer: int
) -> Float[Array, "out in_plus_1"]:
    """The anchor of hidden layer `l` moved by the adapters (straight-through SoftSort
    with tau_2, no noise): `[Z_l W_l^{t-1} A_l^T | Z_l b_l^{t-1}]` (the `"paper"` form)
    or `[Z_l^T W_l^{t-1} A_l | Z_l^T b_l^{t-1}]` (the `"code"` form)."""
    tau = net.adapter_tau
    # Z M (paper) or Z^T M (code) on rows; on columns M A^T == (A M^T)^T (paper) and
    # M A == (A^T M^T)^T (code): one permutation function serves both sides
    if net.adapter_form == "code":
        permute = perm.straight_through_permute_transposed
    else:
        permute = perm.straight_through_permute
    target = permute(net.adapter_out[layer], _weight_and_bias(anchor.hidden[layer]), tau)
    if layer > 0:
        weight = permute(net.adapter_in[layer - 1], target[:, :-1].T, tau).T
        target = jnp.concatenate([weight, target[:, -1:]], axis=1)
    return target


def alignment_loss(net: RewiredMLP, anchor: PlainMLP) -> Scalar:
    """Alignment regulariser of Eq. 11 in the published code's form.

    `sum_l ( ||W_l||^2 - 2 <W_l, T_l> )` over the hidden layers, biases included, summed
    over entries, with `T_l = aligned_anchor_layer(net, anchor, l)` (`Z W_old A^T` or,
    with the `"code"` adapter form, `Z^T W_old A`). It equals `||W_l - T_l||^2` minus
    the target's norm: for hard permutations that norm is a constant, but through
    SoftSort it would push the adapter scores, which the published form avoids. The first layer has no input-side adapter. With
    one shared head, the head adds plain L2 to the anchor's head; task heads are not
    regularised (each slot has its own).

    **Arguments:**

    - `net`: the current network (its `body` holds `W^t`).
    - `anchor`: the body at the end of the previous task (`W^{t-1}`).

    **Returns:** a scalar (not bounded below by 0).
    """
    total = jnp.zeros(())
    for l, layer in enumerate(net.body.hidden):
        current = _weight_and_bias(layer)
        target = aligned_anchor_layer(net, anchor, l)
        total = total + jnp.sum(current**2) - 2.0 * jnp.sum(current * target)
    if net.body.num_heads == 1:
        head, old_head = net.body.head(0), anchor.head(0)
        total = total + jnp.sum((head.weight - old_head.weight) ** 2)
        total = total + jnp.sum((head.bias - old_head.bias) ** 2)
    return total


# ---------------------------------------------------------------------- accounting


@dataclasses.dataclass(frozen=True)
class ParameterCounts:
    """Sizes of a policy network (all counts are numbers of scalars).

    - `weights`: weights and biases of the body, all heads included.
    - `weights_one_head`: the same with a single head (one plain policy).
    - `scores`: score vectors of the K modes.
    - `adapters`: alignment adapter scores.
    - `cached_wiring_entries`: integers held by the wiring cache (all slots).
    - `wiring_entries`: integers of one cached wiring (one order per hidden layer).
    - `wiring_bytes`: bytes of one cached wiring stored compactly, each index in the
      smallest unsigned integer type that holds it (`uint8` for a width of 256).
    """

    weights: int
    weights_one_head: int
    scores: int
    adapters: int
    cached_wiring_entries: int
    wiring_entries: int
    wiring_bytes: int

    @property
    def trainable(self) -> int:
        return self.weights + self.scores + self.adapters


def _index_bytes(n: int) -> int:
    for size in (1, 2, 4):
        if n - 1 < 2 ** (8 * size):
            return size
    return 8


def _size(tree) -> int:
    return sum(a.size for a in jax.tree.leaves(eqx.filter(tree, eqx.is_array)))


def parameter_counts(net: AbstractPolicyNet) -> ParameterCounts:
    """Count the parameters and cached-wiring storage of a policy network."""
    body = net.body if isinstance(net, RewiredMLP) else net
    assert isinstance(body, PlainMLP)
    weights = _size(body)
    one_head = _size(body.hidden) + _size(body.head(0))
    if isinstance(net, RewiredMLP):
        widths = body.hidden_sizes
        return ParameterCounts(
            weights=weights,
            weights_one_head=one_head,
            scores=_size(net.scores),
            adapters=_size((net.adapter_out, net.adapter_in)),
            cached_wiring_entries=_size(net.cached_orders),
            wiring_entries=sum(widths),
            wiring_bytes=sum(n * _index_bytes(n) for n in widths),
        )
    return ParameterCounts(
        weights=weights,
        weights_one_head=one_head,
        scores=0,
        adapters=0,
        cached_wiring_entries=0,
        wiring_entries=0,
        wiring_bytes=0,
    )
