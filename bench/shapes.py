"""How fast XLA:CPU runs the matrix products of one CPU-scale SAC update, each alone.

    python -m bench.shapes                           # batch 256, 3x128, HalfCheetah sizes
    python -m bench.shapes --repeats 5 --iterations 4000

The CPU-scale learner (batch 256, 3x128 networks, HalfCheetah: 17 observations, 6
actions) multiplies a handful of matrix shapes over and over. Each is timed here in a
`lax.scan` loop whose every step feeds its product back into the next (nothing can be
hoisted; for the products that change shape, the carry takes a zero-weighted slice, a
small elementwise add): GFLOP/s = 2 m k n (times 2 for the twin critics' batched
products) per step over the time per step, best of `--repeats` windows. Beside the
whole update's FLOP rate (`bench.run`), this says how much of an update's time its
products would take if nothing else ran, i.e. how much faster any learner built from
the same XLA program could be.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from bench.run import matmul_peak

BATCH, WIDTH, OBS, ACT = 256, 128, 17, 6


def shapes() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Name -> (left, right) operand shapes; a leading 2 is the twin critics' stack."""
    return {
        "hidden layer forward (256x128 by 128x128)": ((BATCH, WIDTH), (WIDTH, WIDTH)),
        "twin hidden layer forward (2 x 256x128 by 128x128)": (
            (2, BATCH, WIDTH),
            (2, WIDTH, WIDTH),
        ),
        "critic first layer forward (256x23 by 23x128)": (
            (BATCH, OBS + ACT),
            (OBS + ACT, WIDTH),
        ),
        "actor first layer forward (256x17 by 17x128)": ((BATCH, OBS), (OBS, WIDTH)),
        "hidden weight gradient (128x256 by 256x128)": ((WIDTH, BATCH), (BATCH, WIDTH)),
        "twin hidden weight gradient (2 x 128x256 by 256x128)": (
            (2, WIDTH, BATCH),
            (2, BATCH, WIDTH),
        ),
        "actor head forward (256x128 by 128x12)": ((BATCH, WIDTH), (WIDTH, 2 * ACT)),
    }


def flops(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    stack = left[0] if len(left) == 3 else 1
    return 2 * stack * left[-2] * left[-1] * right[-1]


def time_product(left_shape, right_shape, iterations: int, repeats: int) -> float:
    """Best seconds per product over `repeats` windows of `iterations` chained steps."""
    left = jax.random.normal(jax.random.key(0), left_shape)
    if right_shape[-2] == right_shape[-1]:
        # an orthogonal right factor keeps a chained square product bounded
        q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(1), right_shape[-2:]))
        right = jnp.broadcast_to(q, right_shape)
    else:
        right = jax.random.normal(jax.random.key(1), right_shape) / right_shape[-2] ** 0.5

    def step(carry, _):
        out = carry @ right
        if out.shape == carry.shape:
            return out, None
        width = min(out.shape[-1], carry.shape[-1])
        pad = [(0, 0)] * (carry.ndim - 1) + [(0, carry.shape[-1] - width)]
        return carry + 0.0 * jnp.pad(out[..., :width], pad), None

    loop = jax.jit(lambda a: jax.lax.scan(step, a, length=iterations)[0])
    jax.block_until_ready(loop(left))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(loop(left))
        best = min(best, time.perf_counter() - t)
    return best / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=4000)
    parser.add_argument("--out", default="bench/shapes_results.json")
    args = parser.parse_args()
    if args.repeats < 1 or args.iterations < 1:
        parser.error(
            f"--repeats {args.repeats} / --iterations {args.iterations}: expected >= 1"
        )
    rows = {}
    for name, (left, right) in shapes().items():
        seconds = time_product(left, right, args.iterations, args.repeats)
        rows[name] = {
            "us": seconds * 1e6,
            "gflops": flops(left, right) / seconds / 1e9,
        }
    result = {
        "command": f"python -m bench.shapes --repeats {args.repeats} "
        f"--iterations {args.iterations}",
        "jax": jax.__version__,
        "products": rows,
        "matmul_peak_gflops": matmul_peak(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print("| product | µs | GFLOP/s |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['us']:.2f} | {row['gflops']:.1f} |")
    print(
        f"matmul peak (bench.run.matmul_peak): {result['matmul_peak_gflops']:.1f} GFLOP/s"
    )


if __name__ == "__main__":
    main()
