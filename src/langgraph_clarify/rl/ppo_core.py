"""PPO numerics on right-padded ``[batch, time]`` tensors whose ``mask`` is 1 on the tokens the policy generated.

A clarify episode is one token sequence: prompt, question 1, answer 1 (environment tokens), question 2, ...
Only generated tokens are actions. :func:`gae` is verl's ``compute_gae_advantage_return``: walking backwards,
an environment (mask 0) position neither updates the next value nor the running advantage, so the last token
of question k bootstraps from the value of the first token of question k+1 with one discount, however many
answer tokens lie between. OpenRLHF and SkyRL multiply by the mask instead, which discounts (and, for
lambda < 1, decays the advantage) once per answer token: a long answer would shrink the credit of the question
that earned it. Kept pure so the tests can check it against hand-computed values.
"""

from __future__ import annotations

import torch


def masked_sum(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions where ``mask`` is 1 (0 when there are none)."""
    return masked_sum(x, mask) / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit variance over the masked positions (unbiased variance, as verl and TRL)."""
    mean = masked_mean(x, mask)
    count = mask.sum()
    var = masked_sum((x - mean) ** 2, mask) / (count - 1).clamp(min=1)
    return (x - mean) * torch.rsqrt(var + eps)


@torch.no_grad()
def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) by GAE over the generated tokens, skipping environment tokens (see the module
    docstring). Not whitened; values on masked positions are ignored; ``returns = advantages + values``."""
    mask = mask.to(values.dtype)
    next_value = torch.zeros_like(values[:, 0])
    running = torch.zeros_like(values[:, 0])
    out = torch.zeros_like(values)
    for t in range(values.shape[1] - 1, -1, -1):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        candidate = delta + gamma * lam * running
        m = mask[:, t]
        next_value = m * values[:, t] + (1 - m) * next_value
        running = m * candidate + (1 - m) * running
        out[:, t] = running
    return out, out + values


def policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clipped surrogate (token mean): (loss, clip fraction, approximate KL to the sampling policy)."""
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clip_frac = masked_mean((clipped > unclipped).to(logprobs.dtype), mask)
    approx_kl = masked_mean(0.5 * log_ratio**2, mask)
    return loss, clip_frac.detach(), approx_kl.detach()


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss ``0.5 * max((v - R)^2, (v_clipped - R)^2)`` (token mean): (loss, clip fraction).
    ``clip=None`` is the plain squared error."""
    unclipped = (values - returns) ** 2
    if clip is None:
        return 0.5 * masked_mean(unclipped, mask), torch.zeros((), device=values.device)
    v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    clipped = (v_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped, clipped), mask)
    return loss, masked_mean((clipped > unclipped).to(values.dtype), mask).detach()


def token_logprobs_and_entropy(
    logits: torch.Tensor, tokens: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities of ``tokens`` under ``softmax(logits / temperature)`` (the distribution the
    generator sampled from) and that distribution's entropy."""
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    chosen = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return chosen, entropy
