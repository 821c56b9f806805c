"""pcchip's equilibrium gradients against jpc's, on the same μPC network.

A jpc/equinox μPC residual MLP (tanh, no biases) is built with jpc; its raw
weights go into a pcchip circuit on an ideal chip, in float64. jpc relaxes
its activities with many small gradient steps and computes its PC weight
gradients; pcchip.grads solves for the same equilibrium with its fixed-point
solver. The two gradients agree to the accuracy of jpc's relaxation.

    pip install jpc          # jax, equinox, optax with it
    pip install ./python     # this repository's package
    python examples/python/jpc_gradients.py [--width 128] [--depth 8] [--steps 4000]

For a PyTorch model the weights are the nn.Linear weights, already in
pcchip's shape: [m.weight.detach().double().numpy() for m in seq if
isinstance(m, torch.nn.Linear)] (no biases; the μPC multipliers are the
circuit's, as jpc's param_type="mupc" applies them).
"""

import argparse
import os
import time

import numpy as np
import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import equinox as eqx  # noqa: E402
import optax  # noqa: E402
import jpc  # noqa: E402

import pcchip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CIRCUIT = os.path.join(HERE, "..", "..", "benches", "jpc_epc", "circuit.toml")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", default="1000,4000,16000", help="jpc's inference steps (Euler, 0.1 τ), comma-separated")
    a = ap.parse_args()
    d_in, d_out, L, B = 64, 10, a.depth, a.batch

    model = jpc.make_mlp(jr.PRNGKey(0), input_dim=d_in, width=a.width, depth=L, output_dim=d_out,
                         act_fn="tanh", use_bias=False, param_type="mupc")
    model = jax.tree_util.tree_map(lambda v: v.astype(jnp.float64) if eqx.is_array(v) else v, model)
    skip = jpc.make_skip_model(L)
    x = jr.normal(jr.PRNGKey(1), (B, d_in), dtype=jnp.float64)
    y = jax.nn.one_hot(jr.randint(jr.PRNGKey(2), (B,), 0, d_out), d_out, dtype=jnp.float64)

    # jpc: feedforward init, then SGD on the activities (jpc's energy is the
    # batch mean, so lr = 0.1·B is an Euler step of 0.1 τ for each sample).
    opt = optax.sgd(0.1 * B)

    def jpc_grads(model, steps):
        acts = jpc.init_activities_with_ffwd(model=model, input=x, skip_model=skip, param_type="mupc")

        def body(i, c):
            r = jpc.update_pc_activities(params=(model, skip), activities=c[0], optim=opt, opt_state=c[1],
                                         output=y, input=x, param_type="mupc")
            return (r["activities"], r["opt_state"])

        acts = jax.lax.fori_loop(0, steps, body, (acts, opt.init(acts)))[0]
        gm, _ = jpc.compute_pc_param_grads(params=(model, skip), activities=acts, y=y, x=x,
                                           loss_id="mse", param_type="mupc")
        return [gm[l].layers[1].weight for l in range(L)]

    # pcchip: the same raw weights ([n_out, n_in], as equinox stores them)
    # and batch; input and output widths come from the batch.
    weights = [np.asarray(model[l].layers[1].weight) for l in range(L)]
    circuit = pcchip.Circuit.load(CIRCUIT, {"network.width": a.width, "network.depth": L})
    t0 = time.perf_counter()
    g = pcchip.grads(circuit, weights, np.asarray(x), np.asarray(y))
    t_pc = time.perf_counter() - t0

    print(f"μPC tanh MLP {d_in} → {a.width} × {L - 1} → {d_out}, batch {B}, float64")
    print(f"pcchip: {g.stop_line} ({t_pc:.3f} s)")
    print(f"cosine(PC, BP) at pcchip's equilibrium: {g.cos_global:.6f}")
    flat = lambda gs: np.concatenate([v.ravel() for v in gs])
    for steps in (int(s) for s in a.steps.split(",")):
        t0 = time.perf_counter()
        g_jpc = [np.asarray(v) for v in eqx.filter_jit(jpc_grads)(model, steps)]
        t_jpc = time.perf_counter() - t0
        err = np.linalg.norm(flat(g.pc) - flat(g_jpc)) / np.linalg.norm(flat(g_jpc))
        print(f"jpc after {steps:6d} inference steps ({t_jpc:.2f} s with compilation): "
              f"relative difference of the PC weight gradients {err:.2e}")


if __name__ == "__main__":
    main()
