"""Transformer circuits (issue #24) from Python: the same gradients and the
same training run as the command line, bit for bit."""

from __future__ import annotations

import json

import numpy as np

import pcchip
from pcchip import tensors

GPT = {"network.width": 16, "network.depth": 2, "data.seq_len": 4, "train.batch_size": 4}


def test_transformer_grads_equal_the_command_line(repo, cli, tmp_path):
    circuit = repo / "circuits" / "gpt-alignment.toml"
    sets = [a for k, v in GPT.items() for a in ("--set", f"{k}={v}")]
    out = tmp_path / "g.safetensors"
    cli("grads", circuit, "--out", out, *sets)
    want = tensors.load(out)
    g = pcchip.grads(pcchip.Circuit.load(circuit, GPT))
    # embedding, two packed blocks (12N × N), LM head
    assert len(g.pc) == 4 and g.pc[1].shape == (12 * 16, 16)
    for l in range(4):
        assert np.array_equal(g.pc[l], want[f"pc.W{l + 1}"]), f"pc.W{l + 1}"
        assert np.array_equal(g.bp[l], want[f"bp.W{l + 1}"]), f"bp.W{l + 1}"
    meta = tensors.metadata(out)
    assert (g.solver, g.stop) == (meta["solver"], meta["stop"])
    assert g.cos_global > 0.5


def test_transformer_run_equals_the_command_line(repo, cli, tmp_path):
    circuit = repo / "circuits" / "gpt-shakespeare.toml"
    over = {**GPT, "train.max_steps": 3, "train.eval_every_steps": 0, "record.every_steps": 2,
            "network.layer_norm": True, "controller.lr_schedule": "cosine"}
    sets = [a for k, v in over.items() for a in ("--set", f"{k}={str(v).lower()}")]
    d = tmp_path / "cli-run"
    cli("run", circuit, "--out", d, "--quiet", *sets)
    want = json.loads((d / "report.json").read_text())
    got = pcchip.run(pcchip.Circuit.load(circuit, over), out=tmp_path / "py-run", progress=False)
    strip = lambda s: {k: v for k, v in s.items() if "wall" not in k}
    assert [strip(s) for s in got["steps"]] == [strip(s) for s in want["steps"]]
    assert got["evals"] == want["evals"]
    assert got["derived"]["text"]["vocabulary"] == want["derived"]["text"]["vocabulary"]
