"""brax.training's SAC, the benchmark's peer.

Compatibility shim: brax 0.14.2's SAC calls `jax.device_put_replicated`, which current
jax removed. On one device it only adds a leading device axis, which is all this shim
does; it is installed here, for the benchmarks, and nowhere in the library.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp


def _device_put_replicated(tree, devices):
    return jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * len(devices)), tree)


def install_shim() -> None:
    if not hasattr(jax, "device_put_replicated"):
        jax.device_put_replicated = _device_put_replicated


def train_sac(
    *,
    num_envs: int,
    grad_updates_per_step: int,
    hidden: tuple[int, ...],
    num_timesteps: int,
    num_evals: int,
    min_replay_size: int,
    progress: Callable,
    seed: int = 0,
    deterministic_eval: bool = False,
    backend: str = "generalized",
) -> None:
    """brax.training's SAC on HalfCheetah as both benchmarks run it: 1000-step episodes,
    16 evaluation envs, Adam 3e-4, discount 0.99, batch 256, 1.28M buffer, LeakyReLU
    (slope 0.2) networks of `hidden` widths."""
    install_shim()
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac_train
    from flax import linen

    from rewire_eqx.envs.brax_env import brax_env

    sac_train.train(
        environment=brax_env("halfcheetah", backend=backend).env,
        num_timesteps=num_timesteps,
        episode_length=1000,
        num_envs=num_envs,
        num_eval_envs=16,
        learning_rate=3e-4,
        discounting=0.99,
        batch_size=256,
        num_evals=num_evals,
        min_replay_size=min_replay_size,
        max_replay_size=1_280_000,
        grad_updates_per_step=grad_updates_per_step,
        deterministic_eval=deterministic_eval,
        network_factory=functools.partial(
            sac_networks.make_sac_networks,
            hidden_layer_sizes=hidden,
            activation=functools.partial(linen.leaky_relu, negative_slope=0.2),
        ),
        progress_fn=progress,
        seed=seed,
    )


def measure_brax_sac(
    *,
    num_envs: int,
    updates_per_step: float,
    hidden: tuple[int, ...],
    epochs: int,
    steps_per_epoch: int,
    between_epochs: Callable[[], None] = lambda: None,
    backend: str = "generalized",
) -> dict:
    """Env steps/s of brax.training's SAC on HalfCheetah (batch 256, lr 3e-4, LeakyReLU
    0.2 networks of `hidden` widths), one value per training epoch from its own timing
    (`training/sps`, which excludes evaluation), after one discarded epoch (brax's timing
    of its first epoch includes compilation); `between_epochs` runs after every timed
    epoch (the benchmark's interleaved windows)."""
    updates = num_envs * updates_per_step
    if updates != int(updates):
        raise ValueError(f"num_envs x updates_per_step = {updates} is not a whole number")
    prefill = 8 * num_envs
    training_steps = max(1, steps_per_epoch // num_envs)
    sps: list[float] = []

    epochs_seen = []

    def progress(step, metrics):
        if "training/sps" in metrics:
            epochs_seen.append(step)
            if len(epochs_seen) > 1:  # brax times its first epoch with its compilation
                sps.append(float(metrics["training/sps"]))
                between_epochs()

    start = time.perf_counter()
    train_sac(
        num_envs=num_envs,
        grad_updates_per_step=int(updates),
        hidden=hidden,
        num_timesteps=prefill + (epochs + 1) * training_steps * num_envs,
        num_evals=epochs + 2,
        min_replay_size=prefill,
        progress=progress,
        backend=backend,
    )
    return {"epoch_sps": sps, "wall_s": time.perf_counter() - start}


def peer_update_flops(*, obs_size: int, action_size: int, hidden: tuple[int, ...]) -> float:
    """XLA-counted FLOPs of one brax.training SAC gradient update on a batch of 256
    (`peer_update_compiled`). (XLA counts a loop body once, so the peer's compiled epoch
    cannot be used.)"""
    from bench.common import xla_flops

    return xla_flops(
        peer_update_compiled(obs_size=obs_size, action_size=action_size, hidden=hidden)
    )


def peer_update_compiled(*, obs_size: int, action_size: int, hidden: tuple[int, ...]):
    """One brax.training SAC gradient update on a batch of 256, compiled: its own alpha,
    critic and actor updates (`make_losses` + `gradient_update_fn`, Adam) and the target
    critics' averaging, composed in the order its `sgd_step` runs them."""
    install_shim()
    import optax
    from brax.training import gradients
    from brax.training.acme import running_statistics, specs
    from brax.training.agents.sac import losses as sac_losses
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.types import Transition
    from flax import linen

    nets = sac_networks.make_sac_networks(
        obs_size,
        action_size,
        hidden_layer_sizes=hidden,
        activation=functools.partial(linen.leaky_relu, negative_slope=0.2),
    )
    alpha_loss, critic_loss, actor_loss = sac_losses.make_losses(
        nets, 1.0, 0.99, action_size
    )
    adam = optax.adam(3e-4)
    alpha_update = gradients.gradient_update_fn(alpha_loss, adam, pmap_axis_name=None)
    critic_update = gradients.gradient_update_fn(critic_loss, adam, pmap_axis_name=None)
    actor_update = gradients.gradient_update_fn(actor_loss, adam, pmap_axis_name=None)
    key = jax.random.key(0)
    policy = nets.policy_network.init(key)
    q = nets.q_network.init(key)
    normaliser = running_statistics.init_state(specs.Array((obs_size,), jnp.float32))
    batch = 256
    transitions = Transition(
        observation=jnp.zeros((batch, obs_size)),
        action=jnp.zeros((batch, action_size)),
        reward=jnp.zeros(batch),
        discount=jnp.ones(batch),
        next_observation=jnp.zeros((batch, obs_size)),
        extras={"state_extras": {"truncation": jnp.zeros(batch)}, "policy_extras": {}},
    )
    log_alpha = jnp.asarray(0.0)

    def update(policy, q, target_q, log_alpha, opt_states, key):
        k1, k2, k3 = jax.random.split(key, 3)
        _, log_alpha, s0 = alpha_update(
            log_alpha, policy, normaliser, transitions, k1, optimizer_state=opt_states[0]
        )
        alpha = jnp.exp(log_alpha)
        _, q_new, s1 = critic_update(
            q,
            policy,
            normaliser,
            target_q,
            alpha,
            transitions,
            k2,
            optimizer_state=opt_states[1],
        )
        _, policy, s2 = actor_update(
            policy, normaliser, q_new, alpha, transitions, k3, optimizer_state=opt_states[2]
        )
        target_q = jax.tree.map(lambda t, x: 0.995 * t + 0.005 * x, target_q, q_new)
        return policy, q_new, target_q, log_alpha, (s0, s1, s2)

    opt_states = (adam.init(log_alpha), adam.init(q), adam.init(policy))
    lowered = jax.jit(update).lower(policy, q, q, log_alpha, opt_states, jax.random.key(1))
    return lowered.compile()
