"""Load a finished run and roll out its task-2 policy.

    python examples/roll_out.py runs/quick/<timestamp>

Prints the policy's score on task 2 (over fresh episodes, then under the key the run
used for `R[last, 2]`, which gives that entry back) and the first actions of one episode
stepped by hand."""

import argparse

import jax

import rewire_eqx as rx


def main(folder: str, task: int = 2, episodes: int = 4) -> tuple[float, float]:
    done = rx.load_run(folder)
    policy = done.policy(task)  # as the run held it after its last task
    env = done.env(task)
    fresh = rx.evaluate(policy, env, episodes=episodes, key=jax.random.key(1))
    rollouts = done.spec.scenario.eval_rollouts
    again = rx.evaluate(
        policy, env, episodes=rollouts, key=done.r_key(done.last_task, task)
    )
    print(
        f"task {task} ({policy.task_name}): {fresh:.2f} over {episodes} x {env.num_envs} "
        f"fresh episodes; R[{done.last_task}, {task}] = {done.R[done.last_task, task]:.2f}, "
        f"again {again:.2f}"
    )
    one = policy.sees(
        rx.make_vec_env(
            done.spec.scenario.domain,
            policy.task_name,
            num_envs=1,
            episode_length=done.spec.sac.episode_length,
        )
    )
    state = one.reset(jax.random.key(2))
    for step in range(3):
        action = jax.vmap(policy.act)(state.obs)
        state, result = one.step(state, action)
        print(
            f"step {step}: action {action[0].round(2)}, reward {float(result.reward[0]):.2f}"
        )
    return fresh, again


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--task", type=int, default=2)
    args = parser.parse_args()
    main(args.folder, args.task)
