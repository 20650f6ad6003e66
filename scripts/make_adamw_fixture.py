#!/usr/bin/python3
"""Writes the AdamW parity fixture for tests/test_train_optim.c.

tests/fixtures/optim/adamw.h5 holds three small float32 tensors named as the model names
them (a decayed weight "h.0.attn.w", a bias "h.0.attn.b" and a norm weight "h.0.ln1.w",
the last two exempt from weight decay), their initial values `init/<name>`, one gradient
per step `grads/<name>` [STEPS, ...], the learning rate of each step `lr` [STEPS] (a
warmup then a decay, so lr changes between steps), and the parameters after each of the
STEPS steps of torch.optim.AdamW `after/<name>` [STEPS, ...]. Root attributes: beta1,
beta2, eps, weight_decay (float64), steps, seed, torch_version, script.

Decay follows train_adamw_decays(): two parameter groups, weight_decay=wd for names that
decay and 0 for the rest (names containing "ln", ending in ".b", or starting with
"wte"/"wpe").

Run with Debian's packages (never pip):
  apt-get install -y --no-install-recommends python3-torch python3-h5py python3-numpy
  /usr/bin/python3 scripts/make_adamw_fixture.py [OUT_DIR]
"""
import os
import sys

import h5py
import numpy as np
import torch

SEED = 20240613
STEPS = 10
BETA1, BETA2, EPS, WD = 0.9, 0.95, 1e-8, 0.1
TENSORS = [("h.0.attn.w", (4, 3)), ("h.0.attn.b", (4,)), ("h.0.ln1.w", (3,))]


def decays(name):
    return not ("ln" in name or name.endswith(".b") or name.startswith("wte")
                or name.startswith("wpe"))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "optim")
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    params, grads = {}, {}
    for name, shape in TENSORS:
        params[name] = torch.nn.Parameter(torch.randn(*shape, generator=gen, dtype=torch.float32))
        g = torch.randn(STEPS, *shape, generator=gen, dtype=torch.float32)
        g[3] *= 100.0  # one large step
        g[5].view(-1)[0] = 0.0  # an exactly zero gradient
        grads[name] = g
    init = {n: p.detach().clone() for n, p in params.items()}
    lr = np.array([1e-2 * (s + 1) / 4 if s < 4 else 1e-2 * 0.8 ** (s - 3) for s in range(STEPS)])
    groups = [
        {"params": [params[n] for n, _ in TENSORS if decays(n)], "weight_decay": WD},
        {"params": [params[n] for n, _ in TENSORS if not decays(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=float(lr[0]), betas=(BETA1, BETA2), eps=EPS,
                            foreach=False)
    after = {n: [] for n in params}
    for s in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = float(lr[s])
        for n, p in params.items():
            p.grad = grads[n][s].clone()
        opt.step()
        for n, p in params.items():
            after[n].append(p.detach().clone())

    path = os.path.join(out_dir, "adamw.h5")
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["script"] = "scripts/make_adamw_fixture.py"
        f.attrs["seed"] = np.int64(SEED)
        f.attrs["steps"] = np.int64(STEPS)
        for k, v in (("beta1", BETA1), ("beta2", BETA2), ("eps", EPS), ("weight_decay", WD)):
            f.attrs[k] = np.float64(v)
        f.create_dataset("lr", data=lr.astype(np.float64))
        for n, _ in TENSORS:
            f.create_dataset("init/" + n, data=init[n].numpy())
            f.create_dataset("grads/" + n, data=grads[n].numpy())
            f.create_dataset("after/" + n, data=torch.stack(after[n]).numpy())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
