"""Threads, the GIL and Ctrl-C: results do not depend on the thread count,
long computations let other Python threads run, and SIGINT interrupts a
relaxation or a training run cleanly (KeyboardInterrupt, the library usable
afterwards)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pcchip

DIGEST = """
import hashlib, sys, pcchip
c = pcchip.Circuit.load(sys.argv[1], {"network.width": 96, "dtype": "f64", "train.batch_size": 64})
r = pcchip.relax(c)
g = pcchip.grads(c)
h = hashlib.sha256()
for a in r.activities + g.pc + g.bp + g.read:
    h.update(a.tobytes())
print(h.hexdigest())
"""


def run_script(code: str, *args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)


def test_results_do_not_depend_on_the_thread_count(repo):
    path = str(repo / "circuits" / "quickstart.toml")
    one = run_script(DIGEST, path, env={"RAYON_NUM_THREADS": "1"})
    two = run_script(DIGEST, path, env={"RAYON_NUM_THREADS": "2"})
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert one.stdout.strip() == two.stdout.strip() and len(one.stdout.strip()) == 64


LONG = {"network.width": 64, "relax.residual_tol": 0.0, "relax.t_max_tau": 1e7}


def test_other_threads_run_during_a_relaxation(repo):
    c = pcchip.Circuit.load(repo / "circuits" / "quickstart.toml",
                            {"network.width": 64, "relax.residual_tol": 0.0, "relax.t_max_tau": 2000.0})
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    t = threading.Thread(target=tick)
    t.start()
    start = time.monotonic()
    try:
        r = pcchip.relax(c, trace=False)
    finally:
        done.set()
        t.join()
    elapsed = time.monotonic() - start
    assert r.stop == "max-time"
    assert elapsed > 0.2, "the relaxation was too short to test the GIL"
    during = [x for x in ticks if start < x < start + elapsed]
    # With the GIL held for the whole call the ticker would not run at all.
    assert len(during) >= 0.3 * elapsed / 0.005


INTERRUPT = """
import sys, time, pcchip
c = pcchip.Circuit.load(sys.argv[1], {overrides})
print("ready", flush=True)
try:
    {call}
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    # The library is usable afterwards: the request was withdrawn.
    r = pcchip.relax(pcchip.Circuit.load(sys.argv[1], {{"network.width": 16}}), trace=False)
    print("recovered", r.stop, flush=True)
"""


def interrupt_after(repo, overrides: dict, call: str, wait_s: float = 1.5):
    code = INTERRUPT.format(overrides=repr(overrides), call=call)
    p = subprocess.Popen([sys.executable, "-c", code, str(repo / "circuits" / "quickstart.toml")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(wait_s)
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    return out, err, time.monotonic() - sent, p.returncode


def test_ctrl_c_interrupts_a_relaxation(repo):
    out, err, took, rc = interrupt_after(repo, LONG, "pcchip.relax(c, trace=False)")
    assert rc == 0, err
    assert out.split() == ["interrupted", "recovered", "residual"], (out, err)
    assert took < 10


def test_ctrl_c_interrupts_a_training_run(repo):
    over = {"network.width": 32, "train.epochs": 200}
    out, err, took, rc = interrupt_after(repo, over, "pcchip.run(c, progress=False)")
    assert rc == 0, err
    assert out.split() == ["interrupted", "recovered", "residual"], (out, err)
    assert took < 10
