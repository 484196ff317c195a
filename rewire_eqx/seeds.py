"""Several seeds of one run trained by one compiled program: the seed axis of
`sac.train_chunk_seeds` (a `vmap`), sharded across devices when there are several.

The runner keeps every seed's Python-side decisions (roll-back, CSP's kept anchors,
PackNet's masks, evaluations, checkpoints) per seed; only the training chunks, where the
compute is, run together. Seeds train together when they can share one program: the
same learner (environments, and what a method adds to them, e.g. CSP's active anchors)
and train states and regularisers of the same structure and shapes. Any seed that
differs, or whose environments step on the host (`AbstractVecEnv.vmappable`), trains
alone with `sac.train_chunk`, so one seed alone is exactly the single-seed program.

A seed trained in a batch is not bit-identical to the same seed trained alone: XLA
compiles a batched matmul or reduction to other kernels, whose float32 rounding differs
in the last bits (measured on CPU: about 1e-7 after 20 update rounds), and a long RL run
amplifies such differences like any change of summation order.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rewire_eqx import sac

__all__ = ["group_seeds", "seed_sharding", "stack", "train_chunks", "unstack"]


def stack(trees: Sequence) -> object:
    """Stack same-structure PyTrees on a new leading seed axis (arrays only; every other
    leaf must be equal across the trees and is kept once)."""
    return jax.tree.map(
        lambda *leaves: jnp.stack(leaves) if eqx.is_array(leaves[0]) else leaves[0],
        *trees,
    )


def unstack(tree, index: int) -> object:
    """Seed `index` of a stacked PyTree."""
    return jax.tree.map(lambda x: x[index] if eqx.is_array(x) else x, tree)


def _signature(tree) -> tuple:
    """What must agree for trees to stack: structure, array shapes and dtypes, and
    every non-array leaf."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple(
        (x.shape, x.dtype) if eqx.is_array(x) else ("value", x) for x in leaves
    )


def _same_learner(a: sac.Learner, b: sac.Learner) -> bool:
    if a is b:
        return True
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    return bool(eqx.tree_equal(a, b))


def group_seeds(items: Sequence[tuple[sac.Learner, object, object]]) -> list[list[int]]:
    """Indices of `(learner, train state, regulariser)` items that can train in one
    program, in order of first appearance; an item whose environments cannot be
    `vmap`ped is a group of its own."""
    groups: list[list[int]] = []
    signatures = [_signature((state, reg)) for _, state, reg in items]
    for i, (learner, _, _) in enumerate(items):
        if learner.env.vmappable:
            for group in groups:
                first = group[0]
                if (
                    items[first][0].env.vmappable
                    and signatures[first] == signatures[i]
                    and _same_learner(items[first][0], learner)
                ):
                    group.append(i)
                    break
            else:
                groups.append([i])
        else:
            groups.append([i])
    return groups


def seed_sharding(num_seeds: int) -> NamedSharding | None:
    """A sharding of a leading seed axis of length `num_seeds` over the most devices
    that divide it (a one-axis `Mesh` named "seed"); None with one device."""
    devices = jax.devices()
    count = max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)
    if count == 1:
        return None
    mesh = Mesh(np.asarray(devices[:count]), ("seed",))
    return NamedSharding(mesh, PartitionSpec("seed"))


def _shard(tree, sharding: NamedSharding | None):
    if sharding is None:
        return tree
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.device_put(arrays, sharding), static)


def train_chunks(
    items: Sequence[tuple[sac.Learner, sac.TrainState, object]], num_rounds: int
) -> list[tuple[sac.TrainState, sac.ChunkMetrics]]:
    """`sac.train_chunk` for every `(learner, state, regulariser)` item: each group of
    `group_seeds` as one batched (and, with several devices, sharded) call."""
    results: list = [None] * len(items)
    for group in group_seeds(items):
        if len(group) == 1:
            learner, state, regulariser = items[group[0]]
            results[group[0]] = sac.train_chunk(learner, state, regulariser, num_rounds)
            continue
        sharding = seed_sharding(len(group))
        states = _shard(stack([items[i][1] for i in group]), sharding)
        regularisers = _shard(stack([items[i][2] for i in group]), sharding)
        states, chunk_metrics = sac.train_chunk_seeds(
            items[group[0]][0], states, regularisers, num_rounds
        )
        for k, i in enumerate(group):
            results[i] = (unstack(states, k), unstack(chunk_metrics, k))
    return results
