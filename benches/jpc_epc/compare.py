"""pcchip's fixed-point solver against jpc's error-based PC (ePC), side by side.

    python compare.py PCCHIP_BIN EXAMPLE_BIN [--depths 8,16,32,64] [--reps 5] [--tol 1e-4]

(run.sh in this folder builds both binaries, makes jpc's venv and pins the
processes to the same CPUs). The net of issue 25: tanh μPC residual MLP,
64 → 128 × (L − 1) → 10, MSE, batch 16, float64, jpc's initialisation
(jpc.make_mlp, param_type "mupc", no biases, jpc.make_skip_model).

1. Reference: `pcchip grads` (fixed-point solver at its default tolerances,
   max |∂F_b/∂z| ≤ 1e-12) on jpc's weights and batch. It is checked
   against jpc itself: ePC run to convergence (2000 iterations at its best
   step) must give the same PC weight gradient to 1e-7 relative.
2. jpc ePC from the feedforward state (all errors 0), the output error
   frozen at 0 as in Goemaere et al. 2025 (jpc's `init_epc_errors` also
   makes an output error the energy never penalises, which would absorb
   the loss): SGD on the errors with a step scanned over a grid (the best
   is kept, in jpc's batch-mean energy, lr = step·B), and Adam likewise.
   For each, the smallest iteration count k whose PC weight gradient
   (`compute_epc_param_grads`) is within --tol of the reference; then k
   iterations + the gradient in one jax.jit, timed --reps times after
   compilation.
3. pcchip: examples/equilibrium_vs_epc.rs, the same criterion and timing
   (process start and chip building excluded).

Prints a Markdown table and one JSON line a depth.
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, jax.random as jr, equinox as eqx, optax, jpc
from safetensors.numpy import save_file, load_file

HERE = os.path.dirname(os.path.abspath(__file__))
D_IN, WIDTH, D_OUT, B = 64, 128, 10, 16


def make(depth, seed=0):
    model = jpc.make_mlp(jr.PRNGKey(seed), input_dim=D_IN, width=WIDTH, depth=depth,
                         output_dim=D_OUT, act_fn="tanh", use_bias=False, param_type="mupc")
    model = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if eqx.is_array(a) else a, model)
    skip = jpc.make_skip_model(depth)
    x = jr.normal(jr.PRNGKey(1), (B, D_IN), dtype=jnp.float64)
    y = jax.nn.one_hot(jr.randint(jr.PRNGKey(2), (B,), 0, D_OUT), D_OUT, dtype=jnp.float64)
    return model, skip, x, y


def weights(model, depth):
    return [np.asarray(model[l].layers[1].weight, dtype=np.float64) for l in range(depth)]


def rel_err(a, b):
    fa = np.concatenate([g.ravel() for g in a]); fb = np.concatenate([g.ravel() for g in b])
    return float(np.linalg.norm(fa - fb) / np.linalg.norm(fb))


def epc_runner(model, skip, x, y, depth, optim, ref, n_scan):
    """jit-compiled k iterations of ePC (output error frozen) + the PC weight
    gradient, and the gradient's relative error to `ref` after each of
    `n_scan` iterations."""
    ref = [jnp.asarray(r) for r in ref]
    ref_norm = jnp.sqrt(sum(jnp.sum(r ** 2) for r in ref))
    params = (model, skip)

    def grads_of(errs):
        gm, _ = jpc.compute_epc_param_grads(params=params, errors=errs, y=y, x=x,
                                            loss_id="mse", param_type="mupc")
        return [gm[l].layers[1].weight for l in range(depth)]

    def step(carry):
        errs, st = carry
        _, g = jpc.compute_epc_error_grad(params=params, errors=errs, y=y, x=x,
                                          loss_id="mse", param_type="mupc")
        g = g[:-1] + [jnp.zeros_like(g[-1])]       # the output error stays 0
        upd, st = optim.update(g, st, errs)
        return (optax.apply_updates(errs, upd), st)

    def init():
        errs = jpc.init_epc_errors([D_IN] + [WIDTH] * (depth - 1) + [D_OUT], B)
        return (errs, optim.init(errs))

    @jax.jit
    def run_k(k):
        errs, _ = jax.lax.fori_loop(0, k, lambda i, c: step(c), init())
        return grads_of(errs)

    @jax.jit
    def history():
        def body(c, _):
            c = step(c)
            g = grads_of(c[0])
            return c, jnp.sqrt(sum(jnp.sum((a - b) ** 2) for a, b in zip(g, ref))) / ref_norm
        _, errs = jax.lax.scan(body, init(), None, length=n_scan)
        return errs

    return run_k, history


def first_within(errs, tol):
    """The first iteration count from which the error stays ≤ tol."""
    errs = np.asarray(errs)
    bad = np.nonzero(~(errs <= tol))[0]
    if len(bad) == 0:
        return 1
    return int(bad[-1]) + 2 if bad[-1] + 1 < len(errs) else None


def time_jitted(fn, k, reps):
    jax.block_until_ready(fn(k))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); jax.block_until_ready(fn(k)); ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcchip"); ap.add_argument("example")
    ap.add_argument("--depths", default="8,16,32,64")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--scan", type=int, default=400, help="most ePC iterations searched")
    a = ap.parse_args()
    rows = []
    for depth in [int(d) for d in a.depths.split(",")]:
        model, skip, x, y = make(depth)
        Ws = weights(model, depth)
        with tempfile.TemporaryDirectory() as d:
            w, b, g = (os.path.join(d, n) for n in ("w.safetensors", "b.safetensors", "g.safetensors"))
            save_file({f"W{l + 1}": np.ascontiguousarray(m) for l, m in enumerate(Ws)}, w)
            save_file({"x": np.ascontiguousarray(np.asarray(x)), "y": np.ascontiguousarray(np.asarray(y))}, b)
            scale = 2.0 ** float(np.floor(np.log2(25.0 / max(np.abs(m).max() for m in Ws))))
            circuit = os.path.join(d, "c.toml")
            text = open(os.path.join(HERE, "circuit.toml")).read()
            # Exact weights on the ideal arrays: g_min 0, a power-of-two scale.
            text = text.replace("depth = 8", f"depth = {depth}")
            text += f"\n[mapping]\nscale_us_per_unit = {scale!r}\n"
            text = text.replace('preset = "ideal"', 'preset = "ideal"\ng_min_us = 0.0\ng_max_us = 25.0')
            open(circuit, "w").write(text)
            p = subprocess.run([a.pcchip, "grads", circuit, "--weights", w, "--batch", b, "--out", g],
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"depth {depth}: pcchip grads failed: {p.stderr.strip()}")
            out = load_file(g)
            ref = [out[f"pc.W{l + 1}"] for l in range(depth)]
            p = subprocess.run([a.example, circuit, w, b, g, "--tol", str(a.tol), "--reps", str(a.reps)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"depth {depth}: equilibrium_vs_epc failed: {p.stderr.strip()}")
            pc = json.loads(p.stdout.strip().splitlines()[-1])
        best = None
        candidates = [("sgd", s, optax.sgd(s * B)) for s in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)]
        candidates += [("adam", s, optax.adam(s)) for s in (0.01, 0.03, 0.1)]
        converged = None
        for name, s, opt in candidates:
            run_k, history = epc_runner(model, skip, x, y, depth, opt, ref, a.scan)
            errs = np.asarray(history())
            k = first_within(errs, a.tol)
            if k is None:
                continue
            t = time_jitted(run_k, k, a.reps)
            if best is None or t < best["seconds"]:
                best = {"optimiser": name, "step": s, "iterations": k, "seconds": t,
                        "rel_err": float(errs[k - 1])}
                converged = run_k
        if best is None:
            print(f"depth {depth}: no ePC setting reached {a.tol} in {a.scan} iterations", file=sys.stderr)
            rows.append({"depth": depth, "pcchip": pc, "epc": None}); continue
        # The reference is jpc's own fixed point: ePC far past the tolerance agrees with it.
        far = [np.asarray(g) for g in converged(2000)]
        agree = rel_err(far, ref)
        row = {"depth": depth, "pcchip": pc, "epc": best, "epc_2000_vs_reference": agree,
               "cpus": len(os.sched_getaffinity(0)), "jax": jax.__version__}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| depth | jpc ePC (s) | best ePC setting | pcchip error-newton (s) | jpc ePC / pcchip | ePC at 2000 it vs reference |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        e, p = r["epc"], r["pcchip"]
        if e is None:
            print(f"| {r['depth']} | — | — | {p['seconds']:.4f} ({p['iterations']} it) | — | — |"); continue
        print(f"| {r['depth']} | {e['seconds']:.4f} ({e['iterations']} it) | {e['optimiser']} {e['step']} | "
              f"{p['seconds']:.4f} ({p['iterations']} it) | {e['seconds'] / p['seconds']:.2f} | "
              f"{r['epc_2000_vs_reference']:.1e} |")


if __name__ == "__main__":
    main()
