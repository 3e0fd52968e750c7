"""Policies that work on any scenario whose tags they accept (exact DP, the hindsight bound, plan-on), and the
registration of the generic ids."""

from __future__ import annotations


def register() -> None:
    """Register the family-independent policy ids (entry point ``optalloc.families: core``).

    Exact DP, the hindsight bound, the planner policies and the RL agents act
    on any scenario with the capability they need (their tags); their
    ``test_params`` are budgets small enough for the conformance tests.
    """
    from optalloc.registry import PolicySpec, register_policy

    for spec in (
        PolicySpec("dp", "optalloc.policies.dp:DPPolicy", "Exact optimum by backward induction on the tabular model"),
        PolicySpec("hindsight", "optalloc.policies.hindsight:HindsightPolicy",
                   "Oracle bound: the scenario's optimal decisions for each episode's own realised noise "
                   "(a bound, not a policy)"),
        PolicySpec("plan-on", "optalloc.policies.plan_on:PlanOnPolicy",
                   "Fit an inner policy on the scenario a family's planning transform returns (e.g. a forecast) "
                   "and act with it on the scenario itself", {"inner": "dp"}),
        # Math programming over the family's Planner (Pyomo models solved by persistent HiGHS).
        PolicySpec("milp", "optalloc.formulations.policies:OpenLoopPolicy",
                   "Open-loop expected-cost plan of the family's planner model (Pyomo MILP, HiGHS), solved once",
                   requires=("pyomo", "highspy")),
        PolicySpec("milp-rolling", "optalloc.formulations.policies:RollingHorizonPolicy",
                   "The planner model re-solved every epoch from the current state (model predictive control)",
                   requires=("pyomo", "highspy")),
        PolicySpec("saa", "optalloc.formulations.policies:SAAPolicy",
                   "Two-stage sample-average approximation of the planner model on training noise paths",
                   {"samples": 4}, requires=("pyomo", "highspy")),
        PolicySpec("hindsight-milp", "optalloc.formulations.policies:PlannerHindsightPolicy",
                   "Oracle bound by the planner's MILP on each episode's own noise path (a bound, not a policy)",
                   requires=("pyomo", "highspy")),
        # Deep RL (torch). test_params: a few hundred env steps, no DP optimum, tiny evaluation.
        PolicySpec("ppo", "optalloc.rl.ppo:PPOPolicy",
                   "Proximal policy optimisation with invalid-action masking (batched vector env, CleanRL style)",
                   {"total_timesteps": 96, "num_envs": 8, "num_steps": 6, "num_minibatches": 2, "update_epochs": 2,
                    "hidden_sizes": [16, 16], "eval_episodes": 2, "compute_optimum": False},
                   requires=("torch",)),
        PolicySpec("a2c", "optalloc.rl.a2c:A2CPolicy",
                   "Advantage actor-critic with invalid-action masking (defaults lr 1e-4, gamma 0.99, 120,000 env steps)",
                   {"total_timesteps": 96, "num_envs": 8, "num_steps": 6, "hidden_sizes": [16, 16],
                    "eval_episodes": 2, "compute_optimum": False},
                   requires=("torch",)),
        PolicySpec("dqn", "optalloc.rl.dqn:DQNPolicy",
                   "Deep Q-learning with replay, target network and masked epsilon-greedy exploration",
                   {"total_timesteps": 96, "num_envs": 8, "buffer_size": 96, "batch_size": 8, "learning_starts": 16,
                    "train_frequency": 8, "target_network_frequency": 32, "hidden_sizes": [16, 16],
                    "eval_episodes": 2, "compute_optimum": False},
                   requires=("torch",)),
        PolicySpec("sb3-ppo", "optalloc.rl.sb3:SB3PPOPolicy",
                   "stable-baselines3 PPO (MlpPolicy on a DummyVecEnv of AllocationEnv; no action masking), acting greedily",
                   {"total_timesteps": 64, "n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1,
                    "net_arch": [16, 16]},
                   requires=("torch", "stable_baselines3")),
    ):
        register_policy(spec)
