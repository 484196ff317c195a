"""The matrix products of one CPU-scale SAC update, read from the compiled program and
timed one by one.

    python -m bench.shapes                           # ours at equal work and the peer
    python -m bench.shapes --programs "equal work" --repeats 5 --iterations 2000

For each program (our plain learner doing brax.training's work, `equal work`; our plain
learner with the paper's delays, `plain`; the rewired K=3 learner, `rewired K=3`;
brax.training's own update, `peer`), at the CPU-scale set-up of `bench.run` (batch 256,
3x128, HalfCheetah), the update is compiled as `bench.run` compiles it for its FLOP
count, and every `dot` instruction of the optimised HLO is listed with its operand
shapes and contracting dimensions (XLA's own products, after its rewrites: e.g. the twin
critics' first layers become one 256x23 by 23x256 product). Each distinct product is
then timed alone with `lax.dot_general` and the same dimensions, in a `lax.scan` loop
whose every step feeds its output back into its left operand (flattened, cut or
zero-padded to that size, weighted by 0: nothing can be hoisted, and XLA keeps the
full product), best of `--repeats` windows. A time includes that feedback, one fused
elementwise pass over the left operand, so the sums below are slightly high.

Reported per program: the products (count per update block, µs each, GFLOP/s), their
sum per gradient update (the block divided by its `policy_update_delay`), the share of
the update's XLA-counted FLOPs that they are, and the matmul peak of `bench.run`
measured in the same run. The sum is the time the update would take if its products ran
one at a time at the rate each reaches alone and everything else were free.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import re
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from bench.common import (
    SETUPS,
    matmul_peak,
    policy_spec,
    sac_spec,
    update_block_compiled,
    xla_flops,
)
from rewire_eqx import sac
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env
from rewire_eqx.specs import build

PROGRAMS = ("equal work", "plain", "rewired K=3", "peer")


@dataclasses.dataclass(frozen=True)
class Product:
    """One `dot` of an optimised HLO module: operand shapes and dimension numbers."""

    lhs: tuple[int, ...]
    rhs: tuple[int, ...]
    lhs_contracting: tuple[int, ...]
    rhs_contracting: tuple[int, ...]
    lhs_batch: tuple[int, ...]
    rhs_batch: tuple[int, ...]

    @property
    def flops(self) -> int:
        batch = math.prod(self.lhs[i] for i in self.lhs_batch)
        contracted = math.prod(self.lhs[i] for i in self.lhs_contracting)
        free = lambda shape, used: math.prod(  # noqa: E731
            d for i, d in enumerate(shape) if i not in used
        )
        lhs_free = free(self.lhs, self.lhs_contracting + self.lhs_batch)
        rhs_free = free(self.rhs, self.rhs_contracting + self.rhs_batch)
        return 2 * batch * contracted * lhs_free * rhs_free

    def describe(self) -> str:
        return (
            f"{'x'.join(map(str, self.lhs))} by {'x'.join(map(str, self.rhs))}, "
            f"contracting {list(self.lhs_contracting)}/{list(self.rhs_contracting)}"
        )


_SHAPE = r"\w+\[([\d,]*)\]"


def _dims(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split(",") if d)


def hlo_products(hlo: str) -> collections.Counter[Product]:
    """Every `dot` of an optimised HLO module's text, with how often it appears."""
    shapes = {}
    for name, dims in re.findall(rf"%?([\w.\-]+): {_SHAPE}", hlo):  # parameters
        shapes[name] = _dims(dims)
    for name, dims in re.findall(rf"%([\w.\-]+) = {_SHAPE}", hlo):  # instructions
        shapes[name] = _dims(dims)
    counts: collections.Counter[Product] = collections.Counter()
    for lhs, rhs, attributes in re.findall(
        r"= \w+\[[\d,]*\]\S* dot\(%([\w.\-]+), %([\w.\-]+)\)([^\n]*)", hlo
    ):

        def attribute(key, attributes=attributes):
            found = re.search(key + r"=\{([\d,]*)\}", attributes)
            return _dims(found.group(1)) if found else ()

        counts[
            Product(
                lhs=shapes[lhs],
                rhs=shapes[rhs],
                lhs_contracting=attribute("lhs_contracting_dims"),
                rhs_contracting=attribute("rhs_contracting_dims"),
                lhs_batch=attribute("lhs_batch_dims"),
                rhs_batch=attribute("rhs_batch_dims"),
            )
        ] += 1
    return counts


def _fit(x: jax.Array, like: jax.Array) -> jax.Array:
    """`x`'s elements in order, cut or zero-padded to the size and shape of `like`."""
    flat = x.reshape(-1)[: like.size]
    return jnp.pad(flat, (0, like.size - flat.size)).reshape(like.shape)


def time_product(product: Product, iterations: int, repeats: int) -> float:
    """Best seconds per product over `repeats` windows of `iterations` chained steps."""
    left = jax.random.normal(jax.random.key(0), product.lhs)
    right = jax.random.normal(jax.random.key(1), product.rhs)
    numbers = (
        (product.lhs_contracting, product.rhs_contracting),
        (product.lhs_batch, product.rhs_batch),
    )

    def step(carry, _):
        out = jax.lax.dot_general(carry, right, numbers)
        return carry + 0.0 * _fit(out, carry), None

    loop = jax.jit(lambda a: jax.lax.scan(step, a, length=iterations)[0])
    jax.block_until_ready(loop(left))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(loop(left))
        best = min(best, time.perf_counter() - t)
    return best / iterations


def compiled_update(program: str, env: JaxVecEnv):
    """(compiled update block, gradient updates per block) of `program` on `env`."""
    hidden = SETUPS["cpu"]["hidden"]
    if program == "peer":
        from bench.brax_peer import peer_update_compiled

        compiled = peer_update_compiled(
            obs_size=env.obs_size, action_size=env.action_size, hidden=hidden
        )
        return compiled, 1
    spec = sac_spec("cpu", equal_work=program == "equal work")
    # the buffer's size does not change the products; a small one compiles faster
    learner = sac.Learner(dataclasses.replace(spec, buffer_size=10_000), env)
    modes = 3 if program == "rewired K=3" else 1
    actor = build(policy_spec(learner, hidden, modes), key=jax.random.key(0))
    state = sac.init_state(learner, actor, key=jax.random.key(1))
    return update_block_compiled(learner, state), spec.policy_update_delay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--programs", nargs="+", choices=PROGRAMS, default=["equal work", "peer"]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--out", default="bench/results/shapes.json")
    args = parser.parse_args()
    if args.repeats < 1 or args.iterations < 1:
        parser.error(
            f"--repeats {args.repeats} / --iterations {args.iterations}: expected >= 1"
        )
    seconds: dict[Product, float] = {}
    result: dict = {
        "command": "python -m bench.shapes --programs "
        + " ".join(f'"{p}"' for p in args.programs)
        + f" --repeats {args.repeats} --iterations {args.iterations}",
        "jax": jax.__version__,
        "programs": {},
    }
    env = JaxVecEnv(
        brax_env("halfcheetah"),
        num_envs=SETUPS["cpu"]["num_envs"],
        episode_length=1000,
    )
    for program in args.programs:
        compiled, updates = compiled_update(program, env)
        flops = xla_flops(compiled)
        products = hlo_products(compiled.as_text())
        rows = []
        for product, count in sorted(products.items(), key=lambda pc: -pc[0].flops):
            if product not in seconds:
                seconds[product] = time_product(product, args.iterations, args.repeats)
            rows.append(
                {
                    "product": product.describe(),
                    "count": count,
                    "us": seconds[product] * 1e6,
                    "gflops": product.flops / seconds[product] / 1e9,
                }
            )
        total_s = sum(seconds[p] * c for p, c in products.items()) / updates
        product_flops = sum(p.flops * c for p, c in products.items()) / updates
        result["programs"][program] = {
            "products": rows,
            "products_us_per_update": total_s * 1e6,
            "product_flops_per_update": product_flops,
            "xla_flops_per_update": flops / updates,
        }
        print(
            f"\n{program}\n\n| product | count per block | µs | GFLOP/s |\n|---|---|---|---|"
        )
        for row in rows:
            print(
                f"| {row['product']} | {row['count']} | {row['us']:.2f} "
                f"| {row['gflops']:.1f} |"
            )
        print(
            f"products per update: {total_s * 1e6:.0f} µs one at a time; "
            f"{product_flops / 1e9:.3f} of {flops / updates / 1e9:.3f} "
            "XLA-counted GFLOP"
        )
    result["matmul_peak_gflops"] = matmul_peak()
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"matmul peak (bench.run.matmul_peak): {result['matmul_peak_gflops']:.1f} GFLOP/s"
    )


if __name__ == "__main__":
    main()
