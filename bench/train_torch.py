#!/usr/bin/python3
"""The peer for bench/train_step.c: the same model (docs/model.md) in PyTorch float32 on the
CPU, same batch layout, same threads; forward, backward and an AdamW step.
Usage: train_torch.py D L NH MAXSEQ STACK B T STEPS THREADS"""
import sys
import time

import torch
import torch.nn.functional as F

D, L, NH, MAXSEQ, S, B, T, STEPS, THREADS = (int(a) for a in sys.argv[1:10])
torch.set_num_threads(THREADS)
torch.manual_seed(1)
V, P, FR = 260, 128, 80 * S
PARA = [10, 2, 2, 3, 3, 3, 7]


def param(*shape, std=0.02):
    return torch.nn.Parameter(torch.randn(*shape) * std)


W = {"wte": param(V, D), "wpe": param(MAXSEQ, D, std=0.01), "persona.w": param(D, P),
     "persona.b": param(D, std=0.0), "audio.w": param(D, FR), "audio.b": param(D, std=0.0),
     "lnf.w": torch.nn.Parameter(torch.ones(D)), "lnf.b": param(D, std=0.0)}
for l in range(L):
    p = f"h.{l}."
    W[p + "ln1.w"], W[p + "ln1.b"] = torch.nn.Parameter(torch.ones(D)), param(D, std=0.0)
    W[p + "ln2.w"], W[p + "ln2.b"] = torch.nn.Parameter(torch.ones(D)), param(D, std=0.0)
    W[p + "qkv.w"], W[p + "qkv.b"] = param(3 * D, D), param(3 * D, std=0.0)
    W[p + "proj.w"], W[p + "proj.b"] = param(D, D), param(D, std=0.0)
    W[p + "fc.w"], W[p + "fc.b"] = param(4 * D, D), param(4 * D, std=0.0)
    W[p + "mproj.w"], W[p + "mproj.b"] = param(D, 4 * D), param(D, std=0.0)
for k, c in enumerate(PARA):
    W[f"para{k}.w"], W[f"para{k}.b"] = param(c, D), param(c, std=0.0)

# The batch: persona, 64 history tokens, a quarter audio, then the reply (as train_step.c).
kind = torch.zeros(B, T, dtype=torch.long)
kind[:, 0] = 1
kind[:, 1:65] = 2
A = T // 4
kind[:, 65:65 + A] = 3
kind[:, 65 + A:] = 2
tokens = torch.randint(0, 256, (B, T))
frames = torch.randn(B, T, FR)
persona = torch.randn(B, P) * 0.1
targets = torch.full((B, T), -1, dtype=torch.long)
targets[:, 65 + A:] = torch.randint(0, 256, (B, T - 65 - A))
labels = torch.randint(0, 2, (B, len(PARA)))
causal = torch.ones(T, T, dtype=torch.bool).tril()


def step():
    x = W["wte"][tokens]
    x = torch.where((kind == 3)[..., None], F.linear(frames, W["audio.w"], W["audio.b"]), x)
    x = torch.where((kind == 1)[..., None],
                    F.linear(persona, W["persona.w"], W["persona.b"])[:, None, :], x)
    x = x + W["wpe"][:T][None]
    hs = D // NH
    for l in range(L):
        p = f"h.{l}."
        h = F.layer_norm(x, (D,), W[p + "ln1.w"], W[p + "ln1.b"])
        q, k, v = F.linear(h, W[p + "qkv.w"], W[p + "qkv.b"]).split(D, dim=2)
        q, k, v = (t.view(B, T, NH, hs).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / hs ** 0.5
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + F.linear(y, W[p + "proj.w"], W[p + "proj.b"])
        h = F.layer_norm(x, (D,), W[p + "ln2.w"], W[p + "ln2.b"])
        h = F.gelu(F.linear(h, W[p + "fc.w"], W[p + "fc.b"]), approximate="tanh")
        x = x + F.linear(h, W[p + "mproj.w"], W[p + "mproj.b"])
    h = F.layer_norm(x, (D,), W["lnf.w"], W["lnf.b"])
    loss = F.cross_entropy((h @ W["wte"].T).view(-1, V), targets.view(-1), ignore_index=-1)
    pooled = (h * (kind == 3)[..., None]).sum(1) / A
    for k in range(len(PARA)):
        loss = loss + 0.5 * F.cross_entropy(F.linear(pooled, W[f"para{k}.w"], W[f"para{k}.b"]),
                                            labels[:, k] % PARA[k])
    return loss


opt = torch.optim.AdamW(list(W.values()), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
times = []
for s in range(STEPS + 1):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    step().backward()
    opt.step()
    if s > 0:
        times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
print(f"step_ms {med * 1e3:.1f}")
print(f"tokens_per_s {B * T / med:.0f}")
print(f"torch {torch.__version__}")
