"""The HLO reading of `bench.cw_program` (its numbers are measurements, not tests)."""

import jax
import jax.numpy as jnp

from bench.cw_program import instruction_counts


def test_instruction_counts_read_tuple_typed_instructions_and_a_compiled_sort():
    text = """
  %p = f32[128]{0} parameter(0)
  %sort.1 = (f32[128]{0}, s32[128]{0}) sort(f32[128]{0} %p, s32[128]{0} %i), dimensions={0}
  ROOT %dot.2 = f32[4,4]{1,0} dot(f32[4,8]{1,0} %a, f32[8,4]{1,0} %b)
"""
    counts = instruction_counts(text)
    assert counts["sort"] == 1 and counts["dot"] == 1 and counts["parameter"] == 1

    def order(x):
        return jnp.argsort(x), x @ x.T

    compiled = jax.jit(order).lower(jnp.zeros((8, 8))).compile()
    counts = instruction_counts(compiled.as_text())
    assert counts["sort"] >= 1 and counts["parameter"] >= 1
