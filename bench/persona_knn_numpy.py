#!/usr/bin/python3
"""The peer for bench/persona_knn.c: numpy brute-force cosine top-k over the same rows of the
same personas.h5, same queries. Usage: persona_knn_numpy.py FILE [ROWS] [QUERIES] [K]"""
import sys
import time

import h5py
import numpy as np

path = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
nq = int(sys.argv[3]) if len(sys.argv) > 3 else 20
k = int(sys.argv[4]) if len(sys.argv) > 4 else 10
t0 = time.perf_counter()
with h5py.File(path, "r") as f:
    x = f["/features"][:rows]
print(f"load_s {time.perf_counter() - t0:.3f}")
queries = [i * (rows // nq) for i in range(nq)]


def topk(q):
    s = x @ x[q]
    s[q] = -np.inf
    part = np.argpartition(-s, k)[:k]
    return part[np.argsort(-s[part], kind="stable")], s


topk(queries[0])  # warm-up
times = []
for q in queries:
    t0 = time.perf_counter()
    idx, s = topk(q)
    times.append(time.perf_counter() - t0)
times.sort()
print(f"query_median_ms {times[nq // 2] * 1e3:.2f}")
print(f"query_p95_ms {times[min(nq * 95 // 100, nq - 1)] * 1e3:.2f}")
idx, s = topk(queries[0])
print(f"top1_of_query0 {idx[0]} {s[idx[0]]:.6f}")
