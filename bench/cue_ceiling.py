#!/usr/bin/env python3
"""How well the user's audio decides the reward model's `ignored_cue` pairs (docs/rlhf.md).

A peer measurement, outside Troupe: a small 1-D CNN (PyTorch) on the log-mel frames of a
corpus's shards learns the reaction a reply owes each user turn (the rule of
data_dialogue_plan: comfort for sad or fearful, de-escalate for angry, play along with
laughter, reassure a hesitation, match happy or excited, brief for fast, calm for slow,
none otherwise) and, as auxiliary heads, the cues themselves. Each epoch prints its
held-out (test split) accuracy per head, and `pairwise`: how often the true reaction gets a
higher probability than the one synth-prefs' cue swap would put in the rejected reply
(its cycle over the eight cue kinds from a random start, the first with another reaction).
That is an upper bound of sorts for a reward model's accuracy on those pairs: the audio
alone, heard by a model built for it.

Usage: python3 bench/cue_ceiling.py CORPUS_DIR [EPOCHS]   (Debian: python3-torch, -h5py)
CORPUS_DIR is the output of `troupe data ingest` on a `troupe data synth` batch, e.g. with
`--set dialogues=3000` (measured 2026-11-30: pairwise 0.94-0.955 after 5-8 epochs).
"""
import glob
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn

SAD, ANGRY, FEARFUL, HAPPY, EXCITED = 4, 5, 6, 2, 3
NONE, COMFORT, DEESCALATE, PLAY, REASSURE, MATCH, BRIEF, CALM = range(8)
# synth-prefs' cue swap cycles over these reactions (angry, sad, laughter, hesitation,
# happy, fast, slow, none), as rlhf/prefs.c lists its cues
CYCLE = [DEESCALATE, COMFORT, PLAY, REASSURE, MATCH, BRIEF, CALM, NONE]
HEADS = [("reaction", 8), ("emotion", 10), ("laughter", 2), ("hesitation", 2), ("speed", 3)]


def reaction(emotion, laughter, hesitation, speed):
    if emotion in (SAD, FEARFUL):
        return COMFORT
    if emotion == ANGRY:
        return DEESCALATE
    if laughter:
        return PLAY
    if hesitation:
        return REASSURE
    if emotion in (HAPPY, EXCITED):
        return MATCH
    if speed == 2:
        return BRIEF
    if speed == 0:
        return CALM
    return NONE


def load(corpus, split, max_frames=800):
    mels, labels = [], []
    for path in sorted(glob.glob(f"{corpus}/shards/*-{split}-*.h5")):
        with h5py.File(path, "r") as h:
            mel, off = h["mel"][:], h["mel_offsets"][:]
            names = [n.decode() if isinstance(n, bytes) else n
                     for n in h["labels/spans"].attrs["names"]]
            spans = h["labels/spans"][:]
            emo, speed = h["labels/emotion"][:], h["labels/speed"][:]
            lau, hes = names.index("laughter"), names.index("hesitation")
            for i in range(len(off) - 1):
                mels.append(mel[off[i]:off[i + 1]][:max_frames])
                e, l, s, sp = int(emo[i]), int(spans[i, lau]), int(spans[i, hes]), int(speed[i])
                labels.append((reaction(e, l, s, sp), e, l, s, sp))
    if not mels:
        sys.exit(f"{corpus}: no {split} shards under shards/")
    return mels, np.array(labels)


class Net(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        layers, c = [], 80
        for stride in (1, 2, 2, 2):
            layers += [nn.Conv1d(c, width, 5, stride=stride, padding=2), nn.GELU()]
            c = width
        self.conv = nn.Sequential(*layers)
        self.heads = nn.ModuleList([nn.Linear(2 * width, k) for _, k in HEADS])

    def forward(self, x, mask):
        h = self.conv(x)
        m = mask[:, ::8][:, :h.shape[2]].unsqueeze(1)
        mean = (h * m).sum(2) / m.sum(2).clamp(min=1)
        peak = (h - 1e4 * (1 - m)).max(2).values
        z = torch.cat([mean, peak], 1)
        return [head(z) for head in self.heads]


def batch(mels, idx, mu, sd):
    T = max(len(mels[i]) for i in idx)
    x = np.zeros((len(idx), T, 80), np.float32)
    mask = np.zeros((len(idx), T), np.float32)
    for j, i in enumerate(idx):
        x[j, :len(mels[i])] = (mels[i] - mu) / sd
        mask[j, :len(mels[i])] = 1
    return torch.tensor(x).transpose(1, 2), torch.tensor(mask)


def pairwise(prob, truth):
    """Mean over utterances and the 8 random starts of [p(true) > p(the swap's pick)]."""
    right = 0.0
    for p, t in zip(prob, truth):
        wins = 0
        for start in range(8):
            for k in range(8):
                alt = CYCLE[(start + k) % 8]
                if alt != t:
                    break
            wins += p[t] > p[alt]
        right += wins / 8
    return right / len(truth)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    corpus, epochs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(2)
    xtr, ytr = load(corpus, "train")
    xte, yte = load(corpus, "test")
    sample = np.concatenate(xtr[:500])
    mu, sd = sample.mean(0), sample.std(0) + 1e-5
    majority = np.bincount(yte[:, 0]).max() / len(yte)
    print(f"{len(xtr)} training, {len(xte)} test utterances; reaction majority {majority:.3f}")
    net = Net()
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.01)
    xent = nn.CrossEntropyLoss()
    order = np.argsort([len(x) for x in xtr])
    t0 = time.time()
    for epoch in range(epochs):
        batches = [order[i:i + 32] for i in range(0, len(order), 32)]
        np.random.shuffle(batches)
        net.train()
        for idx in batches:
            x, m = batch(xtr, idx, mu, sd)
            y = torch.tensor(ytr[idx])
            out = net(x, m)
            loss = sum(xent(out[k], y[:, k]) for k in range(len(HEADS)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        pred = [[] for _ in HEADS]
        prob = []
        with torch.no_grad():
            for s in range(0, len(xte), 64):
                idx = list(range(s, min(s + 64, len(xte))))
                out = net(*batch(xte, idx, mu, sd))
                for k in range(len(HEADS)):
                    pred[k] += out[k].argmax(1).tolist()
                prob += torch.softmax(out[0], 1).tolist()
        acc = " ".join(f"{name} {np.mean(np.array(pred[k]) == yte[:, k]):.3f}"
                       for k, (name, _) in enumerate(HEADS))
        print(f"epoch {epoch + 1}: pairwise {pairwise(prob, yte[:, 0]):.3f}; {acc} "
              f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
