"""The PPO configuration: one frozen dataclass, defaults < YAML < CLI flags (rlhf_eval.config).

Defaults follow Huang et al. 2024 ("The N+ Implementation Details of RLHF with PPO") and TRL's
PPOConfig where they agree; sizes are small because the toolkit's default machine is a CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class PPOConfig:
    # --- schedule
    steps: int = 100                    # PPO updates (one rollout batch each)
    batch_size: int = 16                # prompts per update, global (all processes together)
    num_minibatches: int = 1            # minibatches per PPO epoch
    gradient_accumulation_steps: int = 1  # micro-batches per minibatch (per process)
    ppo_epochs: int = 4
    learning_rate: float = 3e-6
    lr_schedule: str = "linear"         # "linear" (to 0 at the last step) or "constant"
    adam_eps: float = 1e-5              # Huang et al. detail: eps 1e-5 as in the OpenAI code
    max_grad_norm: float | None = 1.0   # None: no clipping
    # --- sampling
    max_new_tokens: int = 24
    # EOS is not sampled (nor scored) before this many tokens in PPO's rollouts, as HF
    # generate's min_new_tokens: rollouts cannot be empty when an RM likes empty answers (the
    # demo's 1-epoch policy learned to write nothing). Training only: `eval` samples without
    # it, and a policy trained with it can still stop early there (measured: half empty).
    min_new_tokens: int = 0
    temperature: float = 0.7            # also divides the reference logits (Huang et al. detail)
    max_prompt_length: int | None = None  # None: the context limit minus max_new_tokens
    # --- reward
    kl_coef: float = 0.05               # beta; the initial value when adaptive
    adaptive_kl: bool = False
    target_kl: float = 6.0              # Ziegler et al. 2019 controller
    kl_horizon: int = 10000
    kl_estimator: str = "k1"            # "k1" (log p - log q) or "k3"
    whiten_rewards: bool = False
    missing_eos_penalty: float | None = 1.0  # subtracted from the score of a completion w/o EOS
    # --- advantages and losses
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    # --- modes
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    bf16: bool = False                  # bf16 autocast (CPU: ~4x faster matmuls); fp32 is exact
    fast_gelu: bool = True              # fused GELU-tanh for GPT-2's python one (same to ~1e-7)
    attention: str = "auto"             # auto: eager on CPU (SDPA's CPU backward is slow), else
                                        # the models' default; or "eager" / "sdpa"
    # --- bookkeeping
    seed: int = 0
    save_every: int = 10                # checkpoint every N steps (and at the last step)
    log_every: int = 1

    def __post_init__(self) -> None:
        if self.kl_estimator not in ("k1", "k3"):
            raise ConfigError(f"kl_estimator: expected 'k1' or 'k3', found {self.kl_estimator!r}")
        if self.lr_schedule not in ("linear", "constant"):
            raise ConfigError(f"lr_schedule: expected 'linear' or 'constant', found "
                              f"{self.lr_schedule!r}")
        for name in ("steps", "batch_size", "num_minibatches", "gradient_accumulation_steps",
                     "ppo_epochs", "max_new_tokens", "save_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected a positive integer, found "
                                  f"{getattr(self, name)}")
        if self.batch_size % self.num_minibatches:
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by "
                              f"num_minibatches {self.num_minibatches}")
        from ..models import check_attention

        check_attention(self.attention)
        if not 0 <= self.min_new_tokens < self.max_new_tokens:
            raise ConfigError(f"min_new_tokens: expected 0 <= min_new_tokens < max_new_tokens "
                              f"({self.max_new_tokens}), found {self.min_new_tokens}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature: expected > 0, found {self.temperature}")

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    def check_world_size(self, world_size: int) -> None:
        """Each process holds an equal share of every batch and every micro-batch."""
        if self.batch_size % world_size:
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by the "
                              f"{world_size} processes")
        per_proc = self.minibatch_size // world_size if self.minibatch_size % world_size == 0 \
            else None
        if per_proc is None or per_proc % self.gradient_accumulation_steps:
            raise ConfigError(
                f"minibatch of {self.minibatch_size} prompts cannot be split into "
                f"{world_size} processes x {self.gradient_accumulation_steps} micro-batches")
