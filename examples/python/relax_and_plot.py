"""Relax one batch on a PCM-like chip and plot the relaxation.

    pip install ./python matplotlib
    python examples/python/relax_and_plot.py [--out relaxation.png]

The quickstart circuit (a μPC residual net on a PCM-like chip, the embedded
MNIST subset) relaxes its first training batch; the figure shows the energy
F (batch mean) and each layer's error norm against simulated time, and the
cosine between the chip's weight update and backprop's gradient as the
relaxation proceeds. The equilibrium activities come back as numpy arrays,
one [B, n_l] array a hidden layer.
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import pcchip  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="relaxation.png")
    ap.add_argument("--width", type=int, default=128)
    a = ap.parse_args()

    circuit = pcchip.Circuit.quickstart({"network.width": a.width, "relax.trace_every_tau": 0.25})
    r = pcchip.relax(circuit)
    print(f"stopped by {r.stop} after {r.t_tau:.1f} τ = {r.t_s * 1e6:.2f} µs of circuit time "
          f"({r.counters['steps_accepted']} Euler steps, {r.wall_s * 1e3:.0f} ms wall)")
    print("activities:", [z.shape for z in r.activities])

    t = r.trace["t_tau"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.semilogy(t, r.trace["energy"], "k", lw=2, label="energy F")
    for name in sorted(k for k in r.trace if k.startswith("err_")):
        ax1.semilogy(t, r.trace[name], lw=1, label=f"‖ε‖ layer {name[4:]}")
    ax1.set_xlabel("simulated time (τ)")
    ax1.legend(fontsize=7)
    ax2.plot(t, r.trace["cos_bp"], label="exact PC gradient")
    ax2.plot(t, r.trace["cos_applied"], "--", label="as read through the ADCs")
    ax2.set_xlabel("simulated time (τ)")
    ax2.set_ylabel("cosine with backprop")
    ax2.legend(fontsize=7)
    fig.suptitle(f"{circuit.name}: one relaxation of a batch of {r.x.shape[0]}")
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(f"written to {a.out}")


if __name__ == "__main__":
    main()
