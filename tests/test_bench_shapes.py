"""`bench.shapes` reads the products of a compiled program from its optimised HLO."""

import jax
import jax.numpy as jnp

from bench.shapes import Product, hlo_products


def test_hlo_products_lists_every_dot_with_its_shapes_and_flops():
    def f(x, w, stacked, v):
        single = jnp.tanh(x @ w)  # 32x16 by 16x8, used twice below
        twin = jnp.einsum("bij,bjk->bik", stacked, v)  # batch 2: 32x16 by 16x4
        return single.sum() + (x.T @ single).sum() + twin.sum()

    args = (
        jnp.ones((32, 16)),
        jnp.ones((16, 8)),
        jnp.ones((2, 32, 16)),
        jnp.ones((2, 16, 4)),
    )
    compiled = jax.jit(f).lower(*args).compile()
    products = hlo_products(compiled.as_text())

    assert sum(products.values()) == 3
    flops = sorted(p.flops for p in products)
    assert flops == sorted([2 * 32 * 16 * 8, 2 * 16 * 32 * 8, 2 * 2 * 32 * 16 * 4])
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    # the products are most of the function's work; the rest is elementwise
    assert sum(flops) <= cost["flops"] < sum(flops) + 4 * 32 * 16 * 2
    batched = [p for p in products if p.lhs_batch]
    assert batched == [
        Product(
            lhs=(2, 32, 16),
            rhs=(2, 16, 4),
            lhs_contracting=(2,),
            rhs_contracting=(1,),
            lhs_batch=(0,),
            rhs_batch=(0,),
        )
    ]
