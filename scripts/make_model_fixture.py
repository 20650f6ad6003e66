#!/usr/bin/python3
"""Writes the whole-model parity fixture for tests/test_train_model.c.

tests/fixtures/model/tiny.h5 holds the `tiny` model (configs/model/tiny.yaml) with weights
drawn here (numpy, fixed seed, rounded to float32) under /params/<name>, one small batch
(B=2, T=20: persona, history tokens, audio, BOS, reply, EOS, padding in the second row,
some labels -1 and one head with no label at all) under /batch/, and what the PyTorch
model below computes from them in float64: the loss and its parts (root attributes
`loss`, `token_loss`, `para_loss`), /logits (B,T,V), /pooled (B,d), and the gradient of the
loss with respect to every parameter under /grads/<name>.

The model is docs/model.md written in PyTorch, with the parameter names of the checkpoint,
so this file is also the reference for rebuilding the model from one.

Run with Debian's packages (never pip):
  apt-get install -y --no-install-recommends python3-torch python3-h5py python3-numpy
  /usr/bin/python3 scripts/make_model_fixture.py [OUT_DIR]
"""
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

SEED = 20261124
V, PERSONA_DIM, N_MELS = 260, 128, 80
BOS, EOS = 256, 257
PAD, PERSONA, TOKEN, AUDIO = 0, 1, 2, 3
PARA = [("emotion", 10), ("laughter", 2), ("hesitation", 2), ("speed", 3), ("pitch", 3),
        ("gender", 3), ("language", 7)]
CFG = dict(d_model=32, n_layers=2, n_heads=2, max_seq=64, stack=4, para_weight=0.5)


def param_specs(c):
    """(name, shape) in checkpoint order (docs/model.md)."""
    d, L, S = c["d_model"], c["n_layers"], c["stack"]
    out = [("wte", (V, d)), ("wpe", (c["max_seq"], d)), ("persona.w", (d, PERSONA_DIM)),
           ("persona.b", (d,)), ("audio.w", (d, S * N_MELS)), ("audio.b", (d,))]
    for l in range(L):
        p = f"h.{l}."
        out += [(p + "ln1.w", (d,)), (p + "ln1.b", (d,)), (p + "attn.qkv.w", (3 * d, d)),
                (p + "attn.qkv.b", (3 * d,)), (p + "attn.proj.w", (d, d)),
                (p + "attn.proj.b", (d,)), (p + "ln2.w", (d,)), (p + "ln2.b", (d,)),
                (p + "mlp.fc.w", (4 * d, d)), (p + "mlp.fc.b", (4 * d,)),
                (p + "mlp.proj.w", (d, 4 * d)), (p + "mlp.proj.b", (d,))]
    out += [("lnf.w", (d,)), ("lnf.b", (d,))]
    for name, k in PARA:
        out += [(f"para.{name}.w", (k, d)), (f"para.{name}.b", (k,))]
    return out


def attention(qkv, valid, NH):
    """Causal multi-head attention over packed qkv (B,T,3C), padded keys and queries masked
    (docs/model-layers.md)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // NH
    q, k, v = (x.view(B, T, NH, hs).transpose(1, 2) for x in qkv.split(C, dim=2))
    preatt = q @ k.transpose(-2, -1) / math.sqrt(hs)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    allowed = causal & (valid[:, None, None, :] | torch.eye(T, dtype=torch.bool))
    att = torch.softmax(preatt.masked_fill(~allowed, float("-inf")), dim=-1)
    att = att * valid[:, None, :, None]
    return (att @ v).transpose(1, 2).reshape(B, T, C)


def model_forward(P, c, batch):
    """The model of docs/model.md: returns loss, token_loss, para_loss, logits, pooled."""
    d, L, NH = c["d_model"], c["n_layers"], c["n_heads"]
    kind = batch["kind"]
    B, T = kind.shape
    valid = kind != PAD
    audio = kind == AUDIO
    pers = F.linear(batch["persona"], P["persona.w"], P["persona.b"])  # (B,d)
    aud = F.linear(batch["frames"], P["audio.w"], P["audio.b"])  # (B,T,d)
    tok = P["wte"][batch["tokens"].clamp(0, V - 1)]  # (B,T,d)
    x = torch.zeros(B, T, d, dtype=torch.float64)
    x = torch.where((kind == PERSONA)[..., None], pers[:, None, :].expand(B, T, d), x)
    x = torch.where((kind == TOKEN)[..., None], tok, x)
    x = torch.where(audio[..., None], aud, x)
    x = x + P["wpe"][:T][None] * valid[..., None]
    for l in range(L):
        p = f"h.{l}."
        h = F.layer_norm(x, (d,), P[p + "ln1.w"], P[p + "ln1.b"], eps=1e-5)
        qkv = F.linear(h, P[p + "attn.qkv.w"], P[p + "attn.qkv.b"])
        x = x + F.linear(attention(qkv, valid, NH), P[p + "attn.proj.w"], P[p + "attn.proj.b"])
        h = F.layer_norm(x, (d,), P[p + "ln2.w"], P[p + "ln2.b"], eps=1e-5)
        h = F.gelu(F.linear(h, P[p + "mlp.fc.w"], P[p + "mlp.fc.b"]), approximate="tanh")
        x = x + F.linear(h, P[p + "mlp.proj.w"], P[p + "mlp.proj.b"])
    h = F.layer_norm(x, (d,), P["lnf.w"], P["lnf.b"], eps=1e-5)
    logits = h @ P["wte"].T  # tied LM head (B,T,V)
    targets = batch["targets"]
    if (targets >= 0).any():
        token_loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
    else:
        token_loss = torch.zeros((), dtype=torch.float64)
    count = audio.sum(1).to(torch.float64)  # (B)
    pooled = (h * audio[..., None]).sum(1) / count.clamp(min=1)[:, None]  # 0 without audio
    para_loss = torch.zeros((), dtype=torch.float64)
    for k, (name, _) in enumerate(PARA):
        lab = batch["labels"][:, k]
        if (lab >= 0).any():
            z = F.linear(pooled, P[f"para.{name}.w"], P[f"para.{name}.b"])
            para_loss = para_loss + F.cross_entropy(z, lab, ignore_index=-1)
    loss = token_loss + c["para_weight"] * para_loss
    return loss, token_loss, para_loss, logits, pooled


def make_batch(rng, c):
    """Two sequences laid out as train/loader.c does; the second is shorter and padded."""
    T, S = 20, c["stack"]
    B = 2
    kind = np.zeros((B, T), np.int64)
    tokens = np.zeros((B, T), np.int64)
    targets = np.full((B, T), -1, np.int64)
    frames = np.zeros((B, T, S * N_MELS))
    # (history tokens, audio positions, reply tokens) per row
    rows = [(4, 6, 6), (2, 4, 3)]
    for b, (nh, na, nr) in enumerate(rows):
        t = 0
        kind[b, t] = PERSONA
        t += 1
        for _ in range(nh):
            kind[b, t], tokens[b, t] = TOKEN, rng.integers(0, 256)
            t += 1
        for _ in range(na):
            kind[b, t] = AUDIO
            frames[b, t] = rng.normal(0.0, 1.0, S * N_MELS)
            t += 1
        reply = rng.integers(0, 256, nr)
        kind[b, t], tokens[b, t] = TOKEN, BOS
        targets[b, t] = reply[0]
        t += 1
        for k in range(nr):
            kind[b, t], tokens[b, t] = TOKEN, reply[k]
            targets[b, t] = reply[k + 1] if k + 1 < nr else EOS
            t += 1
        kind[b, t], tokens[b, t] = TOKEN, EOS
        t += 1
        assert t <= T
    persona = rng.normal(0.0, 1.0, (B, PERSONA_DIM))
    # row 0 fully labelled, row 1 partly; "language" (the last head) has no label at all
    labels = np.array([[3, 1, 0, 2, 1, 0, -1], [7, -1, 1, -1, 2, 1, -1]], np.int64)
    return dict(kind=kind, tokens=tokens, targets=targets, frames=frames, persona=persona,
                labels=labels)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "model")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    c = CFG
    P = {}
    for name, shape in param_specs(c):
        # Larger than the real initialisation, so that every path carries gradient.
        if name.endswith(("ln1.w", "ln2.w", "lnf.w")):
            a = 1.0 + rng.normal(0.0, 0.1, shape)
        elif name.endswith(".b"):
            a = rng.normal(0.0, 0.05, shape)
        else:
            a = rng.normal(0.0, 0.5 / math.sqrt(shape[-1]) if len(shape) == 2 else 0.1, shape)
        if name in ("wte", "wpe"):
            a = rng.normal(0.0, 0.3, shape)
        P[name] = torch.tensor(a.astype(np.float32).astype(np.float64), requires_grad=True)
    bnp = make_batch(rng, c)
    batch = {k: torch.tensor(v) for k, v in bnp.items()}
    batch["frames"] = torch.tensor(bnp["frames"].astype(np.float32).astype(np.float64))
    batch["persona"] = torch.tensor(bnp["persona"].astype(np.float32).astype(np.float64))
    loss, token_loss, para_loss, logits, pooled = model_forward(P, c, batch)
    loss.backward()

    path = os.path.join(out_dir, "tiny.h5")
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["script"] = "scripts/make_model_fixture.py"
        f.attrs["seed"] = np.int64(SEED)
        for k, v in c.items():
            f.attrs[k] = np.float64(v) if isinstance(v, float) else np.int64(v)
        f.attrs["B"], f.attrs["T"] = np.int64(2), np.int64(bnp["kind"].shape[1])
        f.attrs["loss"] = float(loss)
        f.attrs["token_loss"] = float(token_loss)
        f.attrs["para_loss"] = float(para_loss)
        for name, _ in param_specs(c):
            f.create_dataset("params/" + name, data=P[name].detach().numpy().astype(np.float32))
            g = P[name].grad  # None for a head without labels: its gradient is 0
            g = torch.zeros_like(P[name]) if g is None else g
            f.create_dataset("grads/" + name, data=g.detach().numpy().astype(np.float32))
        f.create_dataset("batch/kind", data=bnp["kind"].astype(np.uint8))
        f.create_dataset("batch/tokens", data=bnp["tokens"].astype(np.int32))
        f.create_dataset("batch/targets", data=bnp["targets"].astype(np.int32))
        f.create_dataset("batch/labels", data=bnp["labels"].astype(np.int32))
        f.create_dataset("batch/frames", data=bnp["frames"].astype(np.float32))
        f.create_dataset("batch/persona", data=bnp["persona"].astype(np.float32))
        f.create_dataset("logits", data=logits.detach().numpy().astype(np.float32))
        f.create_dataset("pooled", data=pooled.detach().numpy().astype(np.float32))
    print(f"wrote {path}: loss {float(loss):.6f} (token {float(token_loss):.6f}, "
          f"para {float(para_loss):.6f})")


if __name__ == "__main__":
    main()
