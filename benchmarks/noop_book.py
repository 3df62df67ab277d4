"""Benchmark: a no-op `make book` (nothing changed since the last successful build).

Runs the book command three times after one build that may do real work, and prints each
no-op's wall time. A no-op must execute nothing and render nothing (tests/test_site.py
asserts that); this reports how long it takes.
"""
import subprocess
import time

from actlab.paths import ROOT

CMD = ["make", "-s", "book"]  # as a reader types it: the Makefile's checks included

subprocess.run(CMD, cwd=ROOT, check=True, capture_output=True)  # bring the book up to date
times = []
for _ in range(3):
    t0 = time.perf_counter()
    out = subprocess.run(CMD, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    times.append(time.perf_counter() - t0)
    assert "nothing executed or rendered" in out, out
print("no-op make book:", ", ".join(f"{t:.2f} s" for t in times))
