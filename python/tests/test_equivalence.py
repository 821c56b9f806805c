"""The package returns exactly what the command line writes for the same
circuit, weights and batch (bit for bit: both call the same library
functions; the files are read back with pcchip.tensors, pure numpy)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import pcchip
from pcchip import tensors

SMALL = {"network.width": 24, "network.depth": 3}


def random_problem(seed: int, dims=(12, 24, 24, 5), batch=6, dtype=np.float64):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(dtype) for n_in, n_out in zip(dims[:-1], dims[1:])]
    x = rng.normal(0, 1, (batch, dims[0])).astype(dtype)
    y = rng.normal(0, 0.5, (batch, dims[-1])).astype(dtype)
    return ws, x, y


def write_inputs(tmp_path, ws, x, y):
    wf, bf = tmp_path / "w.safetensors", tmp_path / "b.safetensors"
    tensors.save(wf, {f"W{i + 1}": w for i, w in enumerate(ws)})
    tensors.save(bf, {"x": x, "y": y})
    return wf, bf


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_grads_equal_the_command_line_with_weights_and_batch(repo, cli, tmp_path, dtype):
    circuit = repo / "circuits" / "quickstart.toml"
    over = {**SMALL, "dtype": dtype}
    ws, x, y = random_problem(3)
    wf, bf = write_inputs(tmp_path, ws, x, y)
    out = tmp_path / "g.safetensors"
    sets = [a for k, v in over.items() for a in ("--set", f"{k}={v}")]
    cli("grads", circuit, "--weights", wf, "--batch", bf, "--out", out, *sets)
    want = tensors.load(out)
    meta = tensors.metadata(out)
    g = pcchip.grads(pcchip.Circuit.load(circuit, over), ws, x, y)
    want_dtype = np.float64 if dtype == "f64" else np.float32
    for l in range(3):
        for kind, got in (("pc", g.pc[l]), ("bp", g.bp[l])):
            ref = want[f"{kind}.W{l + 1}"]
            assert got.dtype == want_dtype and got.shape == ref.shape
            assert np.array_equal(got, ref), f"{kind}.W{l + 1} differs"
    for name, v in g.scalars.items():
        assert float(want[name]) == v, name
    assert set(g.scalars) == {k for k in want if "." not in k}
    assert (g.solver, g.stop) == (meta["solver"], meta["stop"])
    assert g.at_equilibrium and g.stop == "converged"
    # The reported cosine is the cosine of the returned arrays.
    pc = np.concatenate([a.ravel() for a in g.pc]).astype(np.float64)
    bp = np.concatenate([a.ravel() for a in g.bp]).astype(np.float64)
    cos = pc @ bp / (np.linalg.norm(pc) * np.linalg.norm(bp))
    assert abs(cos - g.cos_global) < 1e-9


def test_grads_equal_the_command_line_on_the_circuits_own_batch(repo, cli, tmp_path):
    circuit = repo / "circuits" / "quickstart.toml"
    out = tmp_path / "g.safetensors"
    cli("grads", circuit, "--out", out, "--set", "network.width=32")
    want = tensors.load(out)
    g = pcchip.grads(pcchip.Circuit.load(circuit, {"network.width": 32}))
    for l in range(4):
        assert np.array_equal(g.pc[l], want[f"pc.W{l + 1}"])
        assert np.array_equal(g.bp[l], want[f"bp.W{l + 1}"])
    assert g.energy == float(want["energy"])


def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] else np.nan for r in rows]) for k in rows[0]}


@pytest.mark.parametrize("given", [False, True])
def test_relax_equals_the_command_line(repo, cli, tmp_path, given):
    circuit = repo / "circuits" / "quickstart.toml"
    over = {"network.width": 24, "dtype": "f64", "relax.trace_every_tau": 1.0}
    sets = [a for k, v in over.items() for a in ("--set", f"{k}={v}")]
    c = pcchip.Circuit.load(circuit, over)
    extra, args = [], {}
    if given:
        ws, x, y = random_problem(5, dims=(784, 24, 24, 24, 10), batch=7)
        y = np.abs(y)
        x = np.abs(x) / 4
        wf, bf = write_inputs(tmp_path, ws, x, y)
        extra = ["--weights", wf, "--batch", bf]
        args = dict(weights=ws, x=x, y=y)
    d = tmp_path / "relax"
    cli("relax", circuit, "--out", d, *extra, *sets)
    acts = tensors.load(d / "activities.safetensors")
    summary = json.loads((d / "relax.json").read_text())
    r = pcchip.relax(c, **args)
    assert len(r.activities) == 3
    for l, z in enumerate(r.activities):
        assert z.flags["C_CONTIGUOUS"] and z.dtype == np.float64
        assert np.array_equal(z, acts[f"z{l + 1}"]), f"z{l + 1} differs"
    assert np.array_equal(r.x, acts["x"]) and np.array_equal(r.y, acts["y"])
    for k, v in summary.items():
        if k != "wall_s":
            assert r.summary[k] == v, k
    # The trace is relaxation.csv's columns (the CSV rounds to 6–9 digits).
    want = read_csv(d / "relaxation.csv")
    assert set(r.trace) == set(want) - {"step"}
    for k, v in r.trace.items():
        assert v.shape == want[k].shape, k
        np.testing.assert_allclose(v, want[k], rtol=2e-6, atol=1e-300, equal_nan=True, err_msg=k)
    assert r.counters["trace_points"] == len(want["t_tau"]) > 2


def test_check_text_is_what_the_command_line_prints(repo, cli):
    circuit = repo / "circuits" / "quickstart-ideal.toml"
    p = cli("check", circuit, "--set", "network.width=48")
    c = pcchip.Circuit.load(circuit, {"network.width": 48})
    assert c.check_text() == p.stdout
    resolved = c.check()
    assert resolved["network"]["width"] == 48
    assert resolved["name"] == "quickstart-ideal"
    derived = c.derived()
    assert derived["widths"] == [784, 48, 48, 48, 10]


def test_run_report_equals_the_command_line(repo, cli, tmp_path):
    circuit = repo / "circuits" / "quickstart.toml"
    over = {"network.width": 16, "train.max_steps": 4, "train.eval_every_steps": 2, "data.n_samples": 400}
    sets = [a for k, v in over.items() for a in ("--set", f"{k}={v}")]
    ws, _, _ = random_problem(9, dims=(784, 16, 16, 16, 10))
    wf = tmp_path / "w0.safetensors"
    tensors.save(wf, {f"W{i + 1}": w for i, w in enumerate(ws)})
    d = tmp_path / "cli-run"
    cli("run", circuit, "--out", d, "--quiet", "--weights", wf, *sets)
    want = json.loads((d / "report.json").read_text())
    out = tmp_path / "py-run"
    got = pcchip.run(pcchip.Circuit.load(circuit, over), out=out, progress=False, weights=ws)
    assert got["status"] == want["status"] == "complete"
    strip = lambda s: {k: v for k, v in s.items() if "wall" not in k}
    assert [strip(s) for s in got["steps"]] == [strip(s) for s in want["steps"]]
    assert got["evals"] == want["evals"]
    assert (out / "report.json").exists() and (out / "weights.safetensors").exists()
    w_cli, w_py = tensors.load(d / "weights.safetensors"), tensors.load(out / "weights.safetensors")
    assert all(np.array_equal(w_cli[k], w_py[k]) for k in w_cli)


def test_run_without_out_leaves_no_files_and_returns_the_report(repo):
    c = pcchip.Circuit.load(repo / "circuits" / "quickstart.toml",
                            {"network.width": 16, "train.max_steps": 2, "data.n_samples": 200})
    rep = pcchip.run(c, progress=True)
    assert rep["status"] == "complete" and len(rep["steps"]) == 2
    assert rep["summary"]["steps"] == 2


def test_bench_rows(repo, tmp_path):
    c = pcchip.Circuit.load(repo / "circuits" / "quickstart-ideal.toml", {"network.width": 16, "data.n_samples": 200})
    rows = pcchip.bench(c, depths=[2, 3], steps=1, dynamics=["first-order"], out=tmp_path / "b", progress=False)
    assert [r["depth"] for r in rows] == [2, 3]
    assert all(r["dynamics"] == "first-order" for r in rows)
    on_disk = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert on_disk == rows
    assert all(r["median_t_relax_tau"] > 0 for r in rows)


def test_bench_at_margins_of_each_points_bound(repo, tmp_path):
    c = pcchip.Circuit.load(
        repo / "circuits" / "quickstart.toml",
        {"network.width": 16, "data.n_samples": 200, "dynamics.loop_delay_ns": 50.0},
    )
    rows = pcchip.bench(c, depths=[2, 4], steps=1, dynamics=["first-order"], tau_margins=[1.5],
                        out=tmp_path / "b", progress=False)
    assert [r["depth"] for r in rows] == [2, 4]
    for r in rows:
        assert r["stable"]
        assert abs(r["tau_s"] / r["tau_min_s"] - 1.5) < 1e-9
    with pytest.raises(pcchip.InputError, match="tau-margins"):
        pcchip.bench(c, depths=[2], steps=1, taus=[1e-6], tau_margins=[1.5], progress=False)
