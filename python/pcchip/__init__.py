"""pcchip: a simulator of analog predictive-coding chips, from Python.

Build a circuit, relax a batch, compare the equilibrium gradients with
backprop's, train and bench the chip — numpy in and out::

    import pcchip
    c = pcchip.Circuit.load("circuits/quickstart.toml", {"network.width": 64})
    r = pcchip.relax(c)                 # the first training batch
    g = pcchip.grads(c, weights, x, y)  # weights [n_out, n_in], x [B, D], y [B, n_out]

Units: simulated times in τ (the circuit's time constant) and seconds,
energies as batch means. Invalid input raises :class:`InputError` (a
``ValueError``; circuits: :class:`CircuitError`) with the message the
command line prints; a computation that fails raises :class:`RunError`.
Long computations release the GIL and stop cleanly on Ctrl-C
(``KeyboardInterrupt``). See docs/python.md.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - older Pythons
    import tomli as tomllib

from . import _native
from . import tensors
from ._native import CircuitError, InputError, RunError

__version__: str = _native.__version__

__all__ = [
    "Circuit",
    "CircuitError",
    "GradsResult",
    "InputError",
    "RelaxResult",
    "RunError",
    "bench",
    "grads",
    "relax",
    "run",
    "tensors",
    "__version__",
]

Overrides = Optional[Mapping[str, Any]]


def _toml_value(key: str, v: Any) -> str:
    """A Python value as the TOML literal an override takes."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(key, x) for x in v) + "]"
    raise InputError(
        f"overrides[{key!r}]: {type(v).__name__} is not a circuit value "
        "(give a bool, int, float, str or a list of them)"
    )


def _assignments(overrides: Overrides) -> list[str]:
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        raise InputError("overrides: expected a mapping of dotted keys to values, e.g. {'network.width': 256}")
    out = []
    for k, v in overrides.items():
        if not isinstance(k, str) or not k:
            raise InputError(f"overrides: the key {k!r} is not a dotted circuit key such as 'network.width'")
        out.append(f"{k}={_toml_value(k, v)}")
    return out


class Circuit:
    """A validated circuit: the chip, its data and its schedule.

    Overrides are dotted keys with Python values, the command line's
    ``--set KEY=VALUE``: ``{"network.width": 256, "device.preset": "pcm"}``.
    Relative data paths resolve against the circuit file's folder.
    """

    def __init__(self, native: Any, label: str) -> None:
        self._native = native
        self._label = label

    @classmethod
    def load(cls, path: str | os.PathLike[str], overrides: Overrides = None) -> "Circuit":
        """Loads a circuit file (TOML); raises CircuitError naming the file, line and key."""
        return cls(_native.NativeCircuit.load(os.fspath(path), _assignments(overrides)), os.fspath(path))

    @classmethod
    def from_toml(
        cls,
        text: str,
        overrides: Overrides = None,
        *,
        name: str = "circuit",
        base_dir: str | os.PathLike[str] = ".",
    ) -> "Circuit":
        """Parses circuit TOML text (messages call it ``<string>``)."""
        native = _native.NativeCircuit.parse(text, "<string>", name, _assignments(overrides), os.fspath(base_dir))
        return cls(native, "<string>")

    @classmethod
    def quickstart(cls, overrides: Overrides = None) -> "Circuit":
        """The embedded quickstart (a μPC residual net on a PCM-like chip, embedded MNIST)."""
        return cls(_native.NativeCircuit.quickstart(_assignments(overrides)), "<embedded quickstart>")

    def with_overrides(self, overrides: Overrides) -> "Circuit":
        """A new circuit: this one (resolved) with further overrides."""
        native = _native.NativeCircuit.parse(
            self.to_toml(), self._label, self.name, _assignments(overrides), os.fspath(self.base_dir)
        )
        return Circuit(native, self._label)

    def check(self) -> dict[str, Any]:
        """Validates the circuit on its data as ``pcchip check`` does (the chip is
        built and preflighted) and returns the resolved circuit as a dict
        (every default and preset value filled in)."""
        self._native.derived_json()
        return self.to_dict()

    def derived(self) -> dict[str, Any]:
        """The quantities ``pcchip check`` derives on the data: widths, parameters,
        crossbars, tiles, multipliers, learning rates, spectrum, time scales."""
        return json.loads(self._native.derived_json())

    def check_text(self) -> str:
        """Exactly what ``pcchip check`` prints for this circuit."""
        return self._native.check_text()

    def to_toml(self) -> str:
        """The resolved circuit as TOML (no data is read)."""
        return self._native.resolved_toml()

    def to_dict(self) -> dict[str, Any]:
        """The resolved circuit as a dict (no data is read)."""
        return tomllib.loads(self.to_toml())

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def dtype(self) -> str:
        """"f32" or "f64": the dtype of every array pcchip returns for this circuit."""
        return self._native.dtype

    @property
    def depth(self) -> int:
        """Number of weight layers L (network.depth)."""
        return self._native.depth

    @property
    def base_dir(self) -> str:
        return os.fspath(self._native.base_dir)

    def __repr__(self) -> str:
        return f"Circuit(name={self.name!r}, dtype={self.dtype!r}, depth={self.depth}, source={self._label!r})"


def _matrix(a: Any, name: str) -> np.ndarray:
    """A 2-D float32/float64 array, or InputError naming it."""
    arr = a if isinstance(a, np.ndarray) else np.asarray(a)
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a 2-D array, got shape {list(arr.shape)}")
    if arr.dtype not in (np.float32, np.float64):
        raise InputError(f"{name}: dtype {arr.dtype} is not float32 or float64")
    return arr


def _inputs(circuit: Circuit, weights: Optional[Sequence[Any]], x: Any, y: Any):
    if not isinstance(circuit, Circuit):
        raise InputError(f"circuit: expected a pcchip.Circuit, got {type(circuit).__name__}")
    ws = None
    if weights is not None:
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence):
            raise InputError("weights: expected a list of arrays W1 … WL, each [n_out, n_in]")
        ws = [_matrix(w, f"weights[{i}] (W{i + 1})") for i, w in enumerate(weights)]
    xs = None if x is None else _matrix(x, "x")
    ys = None if y is None else _matrix(y, "y")
    if xs is not None and ys is not None and xs.shape[0] != ys.shape[0]:
        raise InputError(
            f"x and y: x is {list(xs.shape)} and y {list(ys.shape)}; expected x [B, D] and y [B, n_out] with the same B"
        )
    return ws, xs, ys


@dataclass
class RelaxResult:
    """One relaxation of one batch, as ``pcchip relax`` writes it.

    ``activities[l]`` is hidden layer l+1's equilibrium activity [B, n_l]
    (row = sample); ``x`` and ``y`` the batch as clamped through the DACs.
    Times in τ and seconds; ``trace`` maps the columns of relaxation.csv
    (``t_tau``, ``t_s``, ``energy``, ``kinetic``, ``residual``, ``cos_bp``,
    ``err_1`` …, ``cos_applied``; NaN where not measured) to arrays.
    """

    activities: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray
    stop: str
    t_tau: float
    t_s: float
    tau_s: float
    residual: float
    residual_tol: float
    energy_start: float
    energy_end: float
    counters: dict[str, int]
    wall_s: float
    trace: dict[str, np.ndarray]
    summary: dict[str, Any] = field(repr=False)

    def to_pandas(self):
        """The trace as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("RelaxResult.to_pandas needs pandas: pip install pandas") from e
        return pd.DataFrame(self.trace)


_COUNTERS = (
    "steps_accepted",
    "steps_rejected",
    "field_evals",
    "hessian_vector_products",
    "cg_iterations",
    "weight_products",
    "trace_points",
)


def relax(
    circuit: Circuit,
    weights: Optional[Sequence[Any]] = None,
    x: Any = None,
    y: Any = None,
    trace: bool = True,
) -> RelaxResult:
    """Relaxes one batch on the chip exactly as ``pcchip relax`` does.

    ``weights``: raw weights W1 … WL, each [n_out, n_in] (an ``nn.Linear``
    weight's shape), float32 or float64; default the circuit's
    initialisation. ``x`` [B, D] and ``y`` [B, n_out]: the batch; default the
    circuit's first training batch. ``trace=False`` skips the trace.
    """
    ws, xs, ys = _inputs(circuit, weights, x, y)
    d = _native.relax(circuit._native, ws, xs, ys, trace)
    s = json.loads(d["summary"])
    return RelaxResult(
        activities=list(d["activities"]),
        x=d["x"],
        y=d["y"],
        stop=s["stop"],
        t_tau=s["t_tau"],
        t_s=s["t_s"],
        tau_s=s["tau_s"],
        residual=s["residual"],
        residual_tol=s["residual_tol"],
        energy_start=s["energy_start"],
        energy_end=s["energy_end"],
        counters={k: s[k] for k in _COUNTERS},
        wall_s=s["wall_s"],
        trace=dict(d["trace"]),
        summary=s,
    )


@dataclass
class GradsResult:
    """Equilibrium PC gradients beside backprop's, as ``pcchip grads`` writes them.

    ``pc[l]``, ``bp[l]``: ∂F/∂W_{l+1} at equilibrium and ∇ℒ by backprop,
    [n_out, n_in]; ``read``: the PC gradient as the controller reads it
    through its ADCs. ``energy`` F and ``loss`` ℒ are batch means;
    ``residual`` the worst residual relative to its start; ``max_abs_dF_dz``
    the largest |∂F/∂z| left. ``scalars`` holds every scalar the file holds.
    """

    pc: list[np.ndarray]
    bp: list[np.ndarray]
    read: list[np.ndarray]
    energy: float
    loss: float
    residual: float
    max_abs_dF_dz: float
    at_equilibrium: bool
    solver: str
    stop: str
    stop_line: str
    cos_global: float
    cos_layers: list[float]
    scalars: dict[str, float]
    kink_hint: Optional[str] = None


def grads(
    circuit: Circuit,
    weights: Optional[Sequence[Any]] = None,
    x: Any = None,
    y: Any = None,
) -> GradsResult:
    """Finds the batch's equilibrium with the circuit's ``[equilibrium]``
    solver and returns the PC and backprop gradients — the numbers ``pcchip
    grads`` writes. With ``x``/``y`` the network's input and output widths
    are the batch's and the circuit's data is not read."""
    ws, xs, ys = _inputs(circuit, weights, x, y)
    d = _native.grads(circuit._native, ws, xs, ys)
    sc = dict(d["scalars"])
    return GradsResult(
        pc=list(d["pc"]),
        bp=list(d["bp"]),
        read=list(d["read"]),
        energy=sc["energy"],
        loss=sc["loss"],
        residual=sc["residual"],
        max_abs_dF_dz=sc["max_abs_dF_dz"],
        at_equilibrium=sc["at_equilibrium"] == 1.0,
        solver=d["solver"],
        stop=d["stop"],
        stop_line=d["stop_line"],
        cos_global=d["cos_global"],
        cos_layers=list(d["cos_layers"]),
        scalars=sc,
        kink_hint=d["kink_hint"],
    )


def _folder(out: Optional[str | os.PathLike[str]], what: str):
    if out is not None:
        return os.fspath(out), None
    tmp = tempfile.mkdtemp(prefix=f"pcchip-{what}-")
    return os.path.join(tmp, what), tmp


def run(
    circuit: Circuit,
    out: Optional[str | os.PathLike[str]] = None,
    progress: bool = True,
    weights: Optional[Sequence[Any]] = None,
) -> dict[str, Any]:
    """Trains the chip as ``pcchip run`` does; returns the report (report.json) as
    a dict. With ``out`` the run's files (report.json, relaxation.csv,
    weights.safetensors) stay there; without, they are written to a
    temporary folder and removed. ``weights`` (W1 … WL, each [n_out, n_in])
    start the run instead of the initialisation, as ``--weights`` does.
    ``progress`` prints a line to ``sys.stderr`` at most every half second
    and at every evaluation."""
    ws, _, _ = _inputs(circuit, weights, None, None)
    folder, tmp = _folder(out, "run")
    try:
        wfile = None
        if ws is not None:
            if tmp is None:
                tmp = tempfile.mkdtemp(prefix="pcchip-weights-")
            wfile = os.path.join(tmp, "weights.safetensors")
            tensors.save(wfile, {f"W{i + 1}": w for i, w in enumerate(ws)})
        return json.loads(_native.run(circuit._native, folder, wfile, bool(progress)))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(
    circuit: Circuit,
    depths: Sequence[int] = (2, 4, 8),
    *,
    steps: int = 3,
    dynamics: Sequence[str] = ("first-order", "inertial"),
    taus: Sequence[float] = (),
    tau_margins: Sequence[float] = (),
    t_max_tau: Optional[float] = None,
    compare_threads: bool = False,
    out: Optional[str | os.PathLike[str]] = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """The layer-parallel speedup against backprop as ``pcchip bench`` measures
    it: one row (a dict, bench.json's) a dynamics × depth × τ point. ``taus``
    (s) gives the break-even map; ``tau_margins`` instead runs each point at
    those multiples (≥ 1) of its own smallest stable τ for the circuit's loop
    delay (``--tau-margins``); ``t_max_tau`` (τ) caps each relaxation
    (times become lower bounds); ``out`` keeps bench.json, bench.csv and a
    run folder a point (else a temporary folder, removed)."""
    if not isinstance(circuit, Circuit):
        raise InputError(f"circuit: expected a pcchip.Circuit, got {type(circuit).__name__}")
    folder, tmp = _folder(out, "bench")
    try:
        rows = _native.bench(
            circuit._native,
            folder,
            [int(d) for d in depths],
            int(steps),
            [str(d) for d in dynamics],
            [float(t) for t in taus],
            [float(m) for m in tau_margins],
            None if t_max_tau is None else float(t_max_tau),
            bool(compare_threads),
            bool(progress),
        )
        return json.loads(rows)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
