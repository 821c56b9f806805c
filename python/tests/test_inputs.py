"""Bad input raises with the key or array named, the command line's message;
numpy dtypes, shapes and layouts are checked or handled exactly."""

from __future__ import annotations

import numpy as np
import pytest

import pcchip
from test_equivalence import random_problem

BATCH = dict(dims=(12, 24, 24, 5), batch=6)


@pytest.fixture()
def circuit(repo):
    return pcchip.Circuit.load(repo / "circuits" / "quickstart.toml",
                               {"network.width": 24, "network.depth": 3, "dtype": "f64"})


def test_exception_classes():
    assert issubclass(pcchip.CircuitError, pcchip.InputError)
    assert issubclass(pcchip.InputError, ValueError)
    assert issubclass(pcchip.RunError, RuntimeError)


def test_a_bad_circuit_file_names_file_line_and_key_as_the_command_line_does(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\n[network]\nwidth = 16\nwidht = 3\n')
    p = cli("check", bad, check=False)
    assert p.returncode == 2
    with pytest.raises(pcchip.CircuitError) as e:
        pcchip.Circuit.load(bad)
    msg = str(e.value)
    assert "bad.toml" in msg and "widht" in msg and ":4" in msg
    assert p.stderr.strip() == f"pcchip: {msg}"


def test_bad_overrides_name_the_key(repo):
    path = repo / "circuits" / "quickstart.toml"
    with pytest.raises(pcchip.CircuitError, match="network.widht"):
        pcchip.Circuit.load(path, {"network.widht": 3})
    with pytest.raises(pcchip.CircuitError, match="network.width"):
        pcchip.Circuit.load(path, {"network.width": -3})
    with pytest.raises(pcchip.InputError, match="overrides"):
        pcchip.Circuit.load(path, {"network.width": object()})
    with pytest.raises(pcchip.CircuitError, match="cannot read"):
        pcchip.Circuit.load(path.with_name("no-such-circuit.toml"))


def test_overrides_take_python_values(repo):
    c = pcchip.Circuit.load(repo / "circuits" / "quickstart.toml",
                            {"network.width": 40, "network.skips": False, "dynamics.tau_s": 2e-7,
                             "device.preset": "ideal"})
    d = c.to_dict()
    assert d["network"]["width"] == 40 and d["network"]["skips"] is False
    assert d["dynamics"]["tau_s"] == 2e-7 and d["device"]["preset"] == "ideal"
    c2 = c.with_overrides({"network.width": 8})
    assert c2.to_dict()["network"]["width"] == 8 and c2.to_dict()["dynamics"]["tau_s"] == 2e-7


def test_from_toml_and_quickstart():
    c = pcchip.Circuit.from_toml('[network]\nwidth = 8\ndepth = 2\n[data]\nsource = "mnist"\n', name="tiny")
    assert c.name == "tiny" and c.depth == 2
    with pytest.raises(pcchip.CircuitError, match="<string>"):
        pcchip.Circuit.from_toml("[network]\nwidth = 'wide'\n")
    q = pcchip.Circuit.quickstart({"network.width": 8})
    assert q.name == "quickstart" and q.to_dict()["network"]["width"] == 8


def test_wrong_count_shape_dtype_and_rank(circuit):
    ws, x, y = random_problem(1, **BATCH)
    with pytest.raises(pcchip.InputError, match="2 arrays given; the network has 3 layers"):
        pcchip.grads(circuit, ws[:2], x, y)
    bad = [ws[0], ws[1].T.copy()[:, :10], ws[2]]
    with pytest.raises(pcchip.InputError, match="W2"):
        pcchip.grads(circuit, bad, x, y)
    with pytest.raises(pcchip.InputError, match=r"weights\[1\] \(W2\): dtype int64"):
        pcchip.grads(circuit, [ws[0], ws[1].astype(np.int64), ws[2]], x, y)
    with pytest.raises(pcchip.InputError, match="x: expected a 2-D array"):
        pcchip.grads(circuit, ws, x[0], y)
    with pytest.raises(pcchip.InputError, match="same B"):
        pcchip.grads(circuit, ws, x, y[:3])
    with pytest.raises(pcchip.InputError, match="give both"):
        pcchip.grads(circuit, ws, x=x)
    with pytest.raises(pcchip.InputError, match="pcchip.Circuit"):
        pcchip.grads("circuits/quickstart.toml", ws, x, y)
    with pytest.raises(pcchip.InputError, match="list of arrays"):
        pcchip.grads(circuit, ws[0], x, y)


def test_non_finite_values_are_named(circuit):
    ws, x, y = random_problem(1, **BATCH)
    x = x.copy()
    x[2, 5] = np.nan
    with pytest.raises(pcchip.InputError, match=r"x\[2, 5\] is NaN"):
        pcchip.grads(circuit, ws, x, y)
    w = ws[2].copy()
    w[1, 0] = np.inf
    with pytest.raises(pcchip.InputError, match=r"W3\)\[1, 0\] is inf"):
        pcchip.relax(circuit, [ws[0], ws[1], w])


def test_layouts_and_dtypes_give_the_same_numbers(circuit):
    ws, x, y = random_problem(2, **BATCH)
    ref = pcchip.grads(circuit, ws, x, y)
    # Fortran order, strided views and float32 inputs (exactly representable
    # values) are read as the same matrices.
    fortran = [np.asfortranarray(w) for w in ws]
    wide = [np.zeros((w.shape[0], 2 * w.shape[1])) for w in ws]
    for v, w in zip(wide, ws):
        v[:, ::2] = w
    strided = [v[:, ::2] for v in wide]
    assert not strided[0].flags["C_CONTIGUOUS"] and not strided[0].flags["F_CONTIGUOUS"]
    for variant in (fortran, strided):
        g = pcchip.grads(circuit, variant, np.asfortranarray(x), y[::1])
        assert all(np.array_equal(a, b) for a, b in zip(g.pc, ref.pc))
    w32 = [w.astype(np.float32) for w in ws]
    g32 = pcchip.grads(circuit, w32, x, y)
    g64 = pcchip.grads(circuit, [w.astype(np.float64) for w in w32], x, y)
    assert all(np.array_equal(a, b) for a, b in zip(g32.pc, g64.pc))
    # Outputs are weight-shaped, in the circuit's dtype, without a copy
    # (Fortran-ordered views of the library's buffers).
    for g, w in zip(ref.pc, ws):
        assert g.shape == w.shape and g.dtype == np.float64 and g.flags["F_CONTIGUOUS"]
        assert g.flags["OWNDATA"] is False


def test_a_failed_relaxation_raises_run_error(repo):
    c = pcchip.Circuit.load(repo / "circuits" / "quickstart.toml",
                            {"network.width": 16, "dynamics.loop_delay_ns": 50, "dynamics.tau_s": 2e-8,
                             "relax.allow_unstable": True})
    with pytest.raises(pcchip.RunError, match="diverged"):
        pcchip.relax(c)


def test_check_on_missing_data_raises_the_command_lines_message(cli, tmp_path):
    bad = tmp_path / "idx.toml"
    bad.write_text('[network]\nwidth = 8\ndepth = 2\n[data]\nsource = "idx"\nimages = "nope-images.idx"\nlabels = "nope-labels.idx"\n')
    p = cli("check", bad, check=False)
    assert p.returncode == 2
    c = pcchip.Circuit.load(bad)  # the file itself is valid
    with pytest.raises(pcchip.InputError) as e:
        c.check()
    assert "nope-images.idx" in str(e.value)
    assert p.stderr.strip() == f"pcchip: {e.value}"
