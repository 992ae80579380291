"""Independent numpy evaluation of the PCB-merging equations (Du et al., NeurIPS 2024) for the
hand-checked case in tests/pcb.rs (`hand_computed_two_tasks_four_elements`).
Run: python3 plugins/merge-sparse/tests/pcb_reference.py"""
import numpy as np


def norm(x):
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def pcb(base, thetas, r, lam):
    tau = [t - base for t in thetas]
    n, d = len(tau), len(base)
    beta = []
    for ti in tau:
        intra = softmax(n * norm(ti * ti))
        inter = sum(softmax(norm(ti * tj)) for tj in tau)
        b = intra * inter
        thr = np.sort(b)[min(int(np.floor((1 - r) * d)), d - 1)]
        beta.append(np.where(b >= thr, b, 0.0))
    num = sum(b * t for b, t in zip(beta, tau))
    den = sum(beta)
    merged = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    return base + lam * merged


base = np.array([0.1, -0.2, 0.3, 0.0])
t1 = base + np.array([0.5, -1.0, 0.25, 2.0])
t2 = base + np.array([1.5, 0.5, -0.75, 1.0])
np.set_printoptions(precision=17)
for r, lam in [(1.0, 1.0), (0.5, 1.0), (0.5, 0.7)]:
    print(r, lam, [float(v) for v in pcb(base, [t1, t2], r, lam)])
