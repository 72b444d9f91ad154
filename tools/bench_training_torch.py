#!/usr/bin/env python3
"""PyTorch peer for tools/bench-training: the same Llama-family student, batch, sequence, loss and
optimizer step as Retort's training engine, on the CPU with a fixed thread count.

Model (written out plainly, no model library): token embedding tied with the output head,
per layer RMSNorm (eps 1e-5) → grouped-query attention with RoPE on adjacent pairs
(x[2i], x[2i+1]) and a causal mask → residual → RMSNorm → SwiGLU MLP → residual; final RMSNorm.

Loss per position, mean over the B·T positions:
    α·τ²·KL(softmax(z_t/τ) ‖ softmax(z_s/τ)) + (1 − α)·CE(z_s, label)
with a random, fixed teacher-logit tensor (B·T, V). With --top-k K the teacher is sparse instead
(top-K ids, their log-probabilities at τ and the remaining mass r) and the KL is taken between
the (K+1)-bucket coarse distributions, as Retort's sparse distillation loss defines it.
One step = forward, backward, global-norm gradient clipping, AdamW update, zero_grad.

Prints one JSON line:
    {"framework":"pytorch","tokens_per_second":...,"step_seconds_median":...,
     "peak_rss_bytes":...,"threads":...,"shape":{...}, ...}
peak RSS is resource.getrusage(RUSAGE_SELF).ru_maxrss (kB on Linux) × 1024.
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=10)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=49152)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--top-k", type=int, default=0, help="sparse teacher with K ids per position (0: full)")
    p.add_argument("--rope-theta", type=float, default=1e5)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=0.1, help="on matrices and the embedding")
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="global-norm clipping (0: none)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--compile", action="store_true", help="torch.compile the model (default: eager)")
    p.add_argument("--profile", action="store_true",
                   help="one more step timed by phase (profile_seconds) and a per-operator table on stderr")
    a = p.parse_args()
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        p.error("dim must divide into heads of even width, and heads into kv-heads")
    if not (0 <= a.alpha <= 1) or a.temperature <= 0:
        p.error("alpha must be in [0, 1] and temperature positive")
    if a.top_k < 0 or a.top_k > a.vocab:
        p.error("top-k must be in 0...vocab")
    return a


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(seq, head_dim, theta):
    """cos, sin: (T, E/2) for pair i at position t: angle t · θ^(−2i/E)."""
    inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(seq, dtype=torch.float64)[:, None] * inv[None, :]
    return angles.cos().float(), angles.sin().float()


def apply_rope(x, cos, sin):
    """x: (B, heads, T, E); rotates adjacent pairs (x[2i], x[2i+1])."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out0 = x0 * cos - x1 * sin
    out1 = x0 * sin + x1 * cos
    return torch.stack((out0, out1), dim=-1).flatten(-2)


class Block(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.g, self.e = a.heads, a.kv_heads, a.dim // a.heads
        self.attn_norm = RMSNorm(a.dim)
        self.wq = torch.nn.Linear(a.dim, self.h * self.e, bias=False)
        self.wk = torch.nn.Linear(a.dim, self.g * self.e, bias=False)
        self.wv = torch.nn.Linear(a.dim, self.g * self.e, bias=False)
        self.wo = torch.nn.Linear(self.h * self.e, a.dim, bias=False)
        self.ffn_norm = RMSNorm(a.dim)
        self.w_gate = torch.nn.Linear(a.dim, a.ffn, bias=False)
        self.w_up = torch.nn.Linear(a.dim, a.ffn, bias=False)
        self.w_down = torch.nn.Linear(a.ffn, a.dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        y = self.attn_norm(x)
        q = self.wq(y).view(b, t, self.h, self.e).transpose(1, 2)
        k = self.wk(y).view(b, t, self.g, self.e).transpose(1, 2)
        v = self.wv(y).view(b, t, self.g, self.e).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.h // self.g
        k = k.repeat_interleave(rep, dim=1)   # query head j reads key/value head j / rep
        v = v.repeat_interleave(rep, dim=1)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.wo(att.transpose(1, 2).reshape(b, t, self.h * self.e))
        y = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(y)) * self.w_up(y))


class Student(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = torch.nn.Embedding(a.vocab, a.dim)
        self.blocks = torch.nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        cos, sin = rope_tables(a.seq, a.dim // a.heads, a.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for m in self.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, self.cos, self.sin)
        return self.norm(x) @ self.embed.weight.t()   # tied output head: (B, T, V)


def full_kl(student_logits, teacher_logits, tau):
    """Mean over positions of KL(p_t,τ ‖ p_s,τ)."""
    ls = F.log_softmax(student_logits / tau, dim=-1)
    lt = F.log_softmax(teacher_logits / tau, dim=-1)
    return F.kl_div(ls, lt, log_target=True, reduction="batchmean")


def sparse_kl(student_logits, ids, teacher_logp, teacher_rest, tau):
    """Mean over positions of the KL between the (K+1)-bucket coarse distributions."""
    ls = F.log_softmax(student_logits / tau, dim=-1)
    lq = ls.gather(1, ids)
    q_rest = (1 - lq.exp().sum(-1)).clamp_min(1e-30)
    p = teacher_logp.exp()
    kl = (p * (teacher_logp - lq)).sum(-1)
    rest_term = torch.where(teacher_rest > 0,
                            teacher_rest * (teacher_rest.clamp_min(1e-30).log() - q_rest.log()),
                            torch.zeros_like(teacher_rest))
    return (kl + rest_term).mean()


def main():
    a = parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model = Student(a)
    step_model = torch.compile(model) if a.compile else model
    n = a.batch * a.seq
    tokens = torch.randint(0, a.vocab, (a.batch, a.seq))
    labels = torch.randint(0, a.vocab, (n,))
    teacher = torch.randn(n, a.vocab) * 3            # fixed random teacher logits (N, V)
    if a.top_k:
        lt = F.log_softmax(teacher / a.temperature, dim=-1)
        teacher_logp, ids = lt.topk(a.top_k, dim=-1)
        teacher_rest = (1 - teacher_logp.exp().sum(-1)).clamp_min(0)
        del teacher, lt
    decay = [p for name, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for name, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    tau2 = a.temperature ** 2

    def step(lap=lambda name: None):
        logits = step_model(tokens).view(n, a.vocab)
        lap("forward")
        if a.top_k:
            kd = sparse_kl(logits, ids, teacher_logp, teacher_rest, a.temperature)
        else:
            kd = full_kl(logits, teacher, a.temperature)
        loss = a.alpha * tau2 * kd + (1 - a.alpha) * F.cross_entropy(logits, labels)
        lap("loss")
        loss.backward()
        lap("backward")
        if a.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        lap("optimizer")
        return loss.item()

    losses, times = [], []
    for i in range(a.warmup + a.steps):
        start = time.perf_counter()
        losses.append(step())
        if i >= a.warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    profile = None
    if a.profile:   # autograd runs backward lazily, so the loss's own backward counts as "backward"
        profile, mark = {}, [time.perf_counter()]

        def lap(name):
            now = time.perf_counter()
            profile[name] = profile.get(name, 0) + now - mark[0]
            mark[0] = now
        step(lap)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20), file=sys.stderr)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "framework": "pytorch",
        "tokens_per_second": n / median,
        "step_seconds_median": median,
        "step_seconds_min": min(times),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "threads": a.threads,
        "compiled": a.compile,
        "torch": torch.__version__,
        "shape": {"layers": a.layers, "dim": a.dim, "heads": a.heads, "kv_heads": a.kv_heads,
                  "ffn": a.ffn, "vocab": a.vocab, "seq": a.seq, "batch": a.batch,
                  "parameters": params, "tied_embedding": True, "rope_theta": a.rope_theta},
        "loss": {"alpha": a.alpha, "temperature": a.temperature, "top_k": a.top_k,
                 "first": losses[0], "last": losses[-1]},
        "steps": a.steps, "warmup": a.warmup,
        **({"profile_seconds": profile} if profile else {}),
    }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
