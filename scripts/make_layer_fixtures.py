#!/usr/bin/python3
"""Writes the layer parity fixtures for tests/test_train_layers.c.

One file per layer, tests/fixtures/layers/<layer>.h5, holding the layer's inputs and
weights, its outputs, an upstream gradient `dout` (or `dlosses`) and every gradient that
PyTorch's autograd gives for the scalar sum(out * dout). Sizes are root attributes (N, C,
...), with `torch_version`, `script` and `seed`.

Inputs are drawn in float64 with fixed seeds and rounded to float32 (what the C code
reads); the reference is then computed in float64 from those rounded values and stored as
float32, so the C code's difference from it is its own float32 error alone. Each layer is
built from PyTorch's own modules and functions (F.linear, F.layer_norm,
F.gelu(approximate="tanh"), F.cross_entropy(ignore_index=-1), ...); docs/model-layers.md
pairs each with its C function.

Run with Debian's packages (never pip):
  apt-get install -y --no-install-recommends python3-torch python3-h5py python3-numpy
  /usr/bin/python3 scripts/make_layer_fixtures.py [OUT_DIR]
"""
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240612


def r32(t):
    """float64 tensor with values rounded to float32 (the C side's inputs)."""
    return t.to(torch.float32).to(torch.float64)


def randn(gen, *shape, scale=1.0):
    return r32(torch.randn(*shape, generator=gen, dtype=torch.float64) * scale)


def leaf(t):
    return t.clone().requires_grad_(True)


def write(out_dir, layer, attrs, tensors):
    path = os.path.join(out_dir, layer + ".h5")
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["script"] = "scripts/make_layer_fixtures.py"
        f.attrs["seed"] = np.int64(SEED)
        for k, v in attrs.items():
            f.attrs[k] = np.int64(v)
        for name, t in tensors.items():
            a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            if a.dtype == np.float64:
                a = a.astype(np.float32)
            f.create_dataset(name, data=a)
    print(f"wrote {path}")


def backward(outs_douts, leaves):
    loss = sum((o * d).sum() for o, d in outs_douts)
    loss.backward()
    return [x.grad for x in leaves]


def linear(out_dir, gen):
    N, C, OC = 6, 16, 12
    inp, w, b = leaf(randn(gen, N, C)), leaf(randn(gen, OC, C, scale=0.3)), leaf(randn(gen, OC))
    out = F.linear(inp, w, b)  # inp @ w.T + b
    dout = randn(gen, N, OC)
    dinp, dw, db = backward([(out, dout)], [inp, w, b])
    write(out_dir, "linear", dict(N=N, C=C, OC=OC),
          dict(inp=inp, weight=w, bias=b, out=out, dout=dout, dinp=dinp, dweight=dw, dbias=db))


def layernorm(out_dir, gen):
    N, C = 6, 16
    inp = leaf(randn(gen, N, C, scale=2.0) + 0.5)
    w, b = leaf(r32(1.0 + randn(gen, C, scale=0.2))), leaf(randn(gen, C, scale=0.2))
    out = F.layer_norm(inp, (C,), w, b, eps=1e-5)
    x = inp.detach()
    mean = x.mean(-1)
    rstd = 1.0 / torch.sqrt(x.var(-1, unbiased=False) + 1e-5)
    dout = randn(gen, N, C)
    dinp, dw, db = backward([(out, dout)], [inp, w, b])
    write(out_dir, "layernorm", dict(N=N, C=C),
          dict(inp=inp, weight=w, bias=b, out=out, mean=mean, rstd=rstd, dout=dout, dinp=dinp,
               dweight=dw, dbias=db))


def gelu(out_dir, gen):
    n = 64
    inp = leaf(randn(gen, n, scale=2.5))
    out = F.gelu(inp, approximate="tanh")
    dout = randn(gen, n)
    (dinp,) = backward([(out, dout)], [inp])
    write(out_dir, "gelu", dict(n=n), dict(inp=inp, out=out, dout=dout, dinp=dinp))


def attention_reference(qkv, valid, NH):
    """Causal multi-head attention over packed qkv (B,T,3C) with key/query padding."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // NH
    q, k, v = qkv.split(C, dim=2)
    q = q.view(B, T, NH, hs).transpose(1, 2)  # (B,NH,T,hs)
    k = k.view(B, T, NH, hs).transpose(1, 2)
    v = v.view(B, T, NH, hs).transpose(1, 2)
    preatt = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B,NH,T,T)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    vk = valid.bool()[:, None, None, :]  # keys
    vq = valid.bool()[:, None, :, None]  # queries
    # A padded query also sees itself, only so that its softmax row is finite; the row is
    # then zeroed, so it contributes nothing to values or gradients.
    allowed = causal & (vk | torch.eye(T, dtype=torch.bool))
    att = torch.softmax(preatt.masked_fill(~allowed, float("-inf")), dim=-1)
    att = att * vq
    out = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
    attended = allowed & vq
    return out, preatt.masked_fill(~attended, 0.0), att


def attention(out_dir, gen):
    B, T, C, NH = 3, 6, 8, 2
    qkv = leaf(randn(gen, B, T, 3 * C))
    valid = torch.tensor([[1, 1, 1, 1, 1, 1],
                          [1, 1, 0, 1, 1, 0],
                          [0, 1, 1, 0, 1, 0]], dtype=torch.uint8)
    out, preatt, att = attention_reference(qkv, valid, NH)
    dout = randn(gen, B, T, C)
    (dqkv,) = backward([(out, dout)], [qkv])
    write(out_dir, "attention", dict(B=B, T=T, C=C, NH=NH),
          dict(qkv=qkv, valid=valid.numpy(), out=out, preatt=preatt, att=att, dout=dout,
               dqkv=dqkv))


def softmax_xent(out_dir, gen):
    N, V = 7, 11
    logits = leaf(randn(gen, N, V, scale=2.0))
    targets = torch.tensor([3, -1, 0, 10, 5, -1, 7], dtype=torch.int64)
    losses = F.cross_entropy(logits, targets, ignore_index=-1, reduction="none")
    probs = torch.softmax(logits.detach(), dim=-1)
    dlosses = r32(torch.rand(N, generator=gen, dtype=torch.float64) + 0.1)
    (dlogits,) = backward([(losses, dlosses)], [logits])
    write(out_dir, "softmax_xent", dict(N=N, V=V),
          dict(logits=logits, targets=targets.numpy().astype(np.int32), losses=losses,
               probs=probs, dlosses=dlosses, dlogits=dlogits))


def residual(out_dir, gen):
    n = 40
    a, b = leaf(randn(gen, n)), leaf(randn(gen, n))
    out = a + b
    dout = randn(gen, n)
    da, db = backward([(out, dout)], [a, b])
    write(out_dir, "residual", dict(n=n), dict(a=a, b=b, out=out, dout=dout, da=da, db=db))


def masked_mean(out_dir, gen):
    B, T, C = 3, 5, 8
    inp = leaf(randn(gen, B, T, C))
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 0, 1], [0, 0, 0, 1, 0]], dtype=torch.uint8)
    count = mask.sum(1).to(torch.float64)
    out = (inp * mask[:, :, None]).sum(1) / count[:, None]
    dout = randn(gen, B, C)
    (dinp,) = backward([(out, dout)], [inp])
    write(out_dir, "masked_mean", dict(B=B, T=T, C=C),
          dict(inp=inp, mask=mask.numpy(), count=count, out=out, dout=dout, dinp=dinp))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
        os.path.join(here, "..", "tests", "fixtures", "layers"))
    os.makedirs(out_dir, exist_ok=True)
    for i, make in enumerate([linear, layernorm, gelu, attention, softmax_xent, residual,
                              masked_mean]):
        gen = torch.Generator().manual_seed(SEED + i)
        make(out_dir, gen)


if __name__ == "__main__":
    main()
