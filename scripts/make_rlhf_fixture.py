#!/usr/bin/python3
"""Writes tests/fixtures/rlhf/objectives.h5: the RLHF objectives of rlhf/objectives.c computed
by PyTorch autograd with the formulas of TRL's DPOTrainer, RewardTrainer and GRPOTrainer, on
seeded random inputs: losses and gradients, so the C tests need no torch.
Run: /usr/bin/python3 scripts/make_rlhf_fixture.py (Debian's python3-torch, python3-h5py)."""
import h5py
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(7)
N = 64
out = h5py.File("tests/fixtures/rlhf/objectives.h5", "w")
out.attrs["torch"] = np.bytes_(str(torch.__version__))

# DPO: logps of policy (chosen, rejected) and reference
pc = (torch.randn(N, dtype=torch.float64) * 3 - 20).requires_grad_()
pr = (torch.randn(N, dtype=torch.float64) * 3 - 20).requires_grad_()
rc = torch.randn(N, dtype=torch.float64) * 3 - 20
rr = torch.randn(N, dtype=torch.float64) * 3 - 20
g = out.create_group("dpo")
for name, v in (("pc", pc), ("pr", pr), ("rc", rc), ("rr", rr)):
    g[name] = v.detach().numpy()
beta, eps = 0.1, 0.1
g["beta"] = [beta]
g["label_smoothing"] = [eps]
for kind in ("sigmoid", "ipo", "hinge"):
    logits = (pc - pr) - (rc - rr)
    if kind == "sigmoid":
        losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    elif kind == "hinge":
        losses = torch.relu(1 - beta * logits)
    else:
        losses = (logits - 1 / (2 * beta)) ** 2
    dpc, dpr = torch.autograd.grad(losses.sum(), (pc, pr))
    g[kind + "_loss"] = losses.detach().numpy()
    g[kind + "_dpc"] = dpc.numpy()
    g[kind + "_dpr"] = dpr.numpy()

# Reward model: Bradley-Terry with margin and centring, per pair
sc = torch.randn(N, dtype=torch.float64).requires_grad_()
sr = torch.randn(N, dtype=torch.float64).requires_grad_()
margin = torch.rand(N, dtype=torch.float64)
center = 0.01
losses = -F.logsigmoid(sc - sr - margin) + center * (sc + sr) ** 2
dsc, dsr = torch.autograd.grad(losses.sum(), (sc, sr))
g = out.create_group("reward")
g["sc"], g["sr"], g["margin"] = sc.detach().numpy(), sr.detach().numpy(), margin.numpy()
g["center"] = [center]
g["loss"], g["dsc"], g["dsr"] = losses.detach().numpy(), dsc.numpy(), dsr.numpy()

# GRPO: one group's advantages, then per-token losses
G = 8
rewards = torch.rand(G, dtype=torch.float64)
mean, std = rewards.mean(), rewards.std()
adv = (rewards - mean) / (std + 1e-4)
logp = (torch.randn(N, dtype=torch.float64) * 0.5 - 2).requires_grad_()
old = logp.detach() + torch.randn(N, dtype=torch.float64) * 0.3
ref = logp.detach() + torch.randn(N, dtype=torch.float64) * 0.3
a = adv[torch.arange(N) % G]
eps_low, eps_high, kl_beta = 0.2, 0.28, 0.04
coef_1 = torch.exp(logp - old)
coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
per_token = -torch.min(coef_1 * a, coef_2 * a)
kl = torch.exp(ref - logp) - (ref - logp) - 1
per_token = per_token + kl_beta * kl
(dlogp,) = torch.autograd.grad(per_token.sum(), (logp,))
g = out.create_group("grpo")
g["rewards"], g["adv"] = rewards.numpy(), adv.numpy()
g["logp"], g["old"], g["ref"] = logp.detach().numpy(), old.numpy(), ref.numpy()
g["eps_low"], g["eps_high"], g["beta"] = [eps_low], [eps_high], [kl_beta]
g["loss"], g["dlogp"], g["kl"] = per_token.detach().numpy(), dlogp.numpy(), kl.detach().numpy()
out.close()
print("wrote tests/fixtures/rlhf/objectives.h5")
