"""Training core: SFT, reward model and PPO trainers."""
