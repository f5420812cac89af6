#!/usr/bin/env python3
"""Worked examples of the ranking-list loss (docs/method.md section 2), step by step,
in NumPy, for RankingLossTests.

Writes Tests/RefinementTests/Fixtures/ranking_loss.json: for each case the
teacher's and student's unit vectors and every intermediate matrix: T, the
rank targets T', the correction B, the damped L, P = T + L, S, the order of
each row, the per-row ListMLE losses, the loss, dLoss/dS and dLoss/d(student
vectors).

Cases:
  teacher_agrees    teacher similarity falls with the list order in every
                    sub-row, so B = 0 everywhere;
  teacher_reverses  the anchor's row is reversed (the last sentence is the
                    teacher's closest), so B is non-zero with both signs;
  random            random unit vectors.

The rank correction follows docs/method.md: in row i, column j (j >= i) belongs at
rank r = j - i of the sub-row T[i][i:], and T'[i][j] is that sub-row's r-th
largest value (the released reference code uses the absolute column j
instead; docs/method.md's rule is the one implemented and pinned here).

Run: python3 scripts/ranking_loss_fixture.py   (needs numpy only)
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "RefinementTests", "Fixtures", "ranking_loss.json")
TAU, TAU2, OMEGA = 0.05, 0.05, 0.5


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def steps(teacher, student):
    n = teacher.shape[0]
    T = teacher @ teacher.T / TAU2
    Tp = np.zeros_like(T)
    B = np.zeros_like(T)
    for i in range(n):
        sub = np.sort(T[i, i:])[::-1]          # the sub-row, largest first
        for j in range(i, n):
            r = j - i                          # the rank the list order gives column j
            Tp[i, j] = sub[r]
            # Teacher ranks j lower than r (value below the r-th largest):
            # too far, B > 0; higher: too close, B < 0; equal: 0.
            if T[i, j] < sub[r]:
                B[i, j] = abs(T[i, j] - sub[r])
            elif T[i, j] > sub[r]:
                B[i, j] = -abs(T[i, j] - sub[r])
    for i in range(n):
        for j in range(i):
            B[i, j] = B[j, i]
            Tp[i, j] = Tp[j, i]
    L = np.sign(B) * np.log(OMEGA * np.abs(B) + 1)
    P = T + L
    S = student @ student.T / TAU
    orders, row_losses = [], []
    dS = np.zeros_like(S)
    for i in range(n):
        order = sorted(range(n), key=lambda j: -P[i, j])   # no ties in these cases
        s = S[i, order] - S[i, order].max()
        e = np.exp(s)
        suffix = np.cumsum(e[::-1])[::-1]                    # sum_{m >= k} exp(s_m)
        row_losses.append(float(np.sum(np.log(suffix) - s)))
        # d/ds_m = -1 + sum_{k <= m} exp(s_m) / suffix_k
        g = -1 + e * np.cumsum(1 / suffix)
        dS[i, order] = g / n
        orders.append(order)
    loss = float(np.mean(row_losses))
    dU = (dS + dS.T) @ student / TAU
    return dict(T=T, target=Tp, B=B, L=L, P=P, S=S, orders=orders, row_losses=row_losses,
                loss=loss, dS=dS, dStudent=dU)


def circle(angles, dim, rng):
    """Unit vectors at the given angles in a random plane of R^dim."""
    basis, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return unit(np.stack([np.cos(a) * basis[:, 0] + np.sin(a) * basis[:, 1] for a in angles]))


def main():
    rng = np.random.default_rng(20261203)
    n, dim = 5, 6
    cases = {}
    # Angles growing with the index: in every sub-row similarity falls with j.
    # Unequal steps, so that no two scores of a row tie.
    agree_t = circle([0.0, 0.2, 0.45, 0.75, 1.1], dim, rng)
    cases["teacher_agrees"] = (agree_t, unit(agree_t + 0.3 * rng.normal(size=(n, dim))))
    # The anchor at 0, the others at decreasing angles: the last is closest
    # to the anchor, while rows 1.. still agree with the list.
    reverse_t = circle([0.0, 1.0, 0.75, 0.45, 0.2], dim, rng)
    cases["teacher_reverses"] = (reverse_t, unit(rng.normal(size=(n, dim))))
    cases["random"] = (unit(rng.normal(size=(n, dim))), unit(rng.normal(size=(n, dim))))
    out = {"tau": TAU, "teacher_tau": TAU2, "omega": OMEGA, "cases": []}
    for name, (t, s) in cases.items():
        r = steps(t, s)
        item = {"name": name, "teacher": t.tolist(), "student": s.tolist()}
        for k, v in r.items():
            item[k] = v.tolist() if isinstance(v, np.ndarray) else v
        out["cases"].append(item)
        print(name, "loss", round(r["loss"], 6), "B nonzero", int(np.count_nonzero(r["B"])))
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
