"""benchmarks/threads.py runs and prints a table whose numbers parse.

A smoke test only: the script runs in its ``--quick`` mode (one round) as a
subprocess; nothing here asserts a speed, only that every case has its rows alone
and busy, that the times are positive and that the printed ratio is auto over the
better fixed count, from the printed times.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from helpers import ROOT

NUMBER = r"\d+(?:\.\d+)?"
#: the two small cases (the Fashion-MNIST ones take the same code path, four times longer)
#: and the pass over a data set, which times evaluate instead of fit
CASES = ("spiral", "breast_cancer", "fashion_pass")


def test_threads_quick_prints_every_case_alone_and_busy(tmp_path):
    out_json = tmp_path / "threads.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "threads.py"), "--quick",
                           "--repeats", "1", "--cases", ",".join(CASES), "--json", str(out_json)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)  # a hang only
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    header = re.search(r"^case\s+load\s+steps\s+rows\s+1 thread s\s+(\d+) threads s\s+auto s"
                       r"\s+picks\s+auto/best$", out, re.MULTILINE)
    assert header, out
    cores = int(header.group(1))
    for case in CASES:
        for load in ("alone", "busy"):
            row = re.search(rf"^{case}\s+{load}\s+(\d+)\s+(\d+)\s+({NUMBER})\s+({NUMBER})\s+"
                            rf"({NUMBER})\s+([\d/]+)\s+({NUMBER})$", out, re.MULTILINE)
            assert row, (case, load, out)
            one, many, auto, ratio = (float(row.group(i)) for i in (3, 4, 5, 7))
            assert min(one, many, auto) > 0
            # the times are printed to 3 decimals (a quick round takes ~0.015 s), so the
            # ratio from them is only known within the rounding of each; 0.005 more for its own
            best, half = min(one, many), 0.0005
            assert (auto - half) / (best + half) - 0.005 <= ratio
            assert ratio <= (auto + half) / (best - half) + 0.005
            assert all(1 <= int(n) <= cores for n in row.group(6).split("/"))
    assert re.search(rf"^worst auto/best {NUMBER}; target auto/best <= 1\.10: (met|NOT met)$",
                     out, re.MULTILINE), out
    rows = json.loads(out_json.read_text(encoding="utf-8"))["rows"]
    assert [(r["case"], r["load"]) for r in rows] == [(c, ld) for c in CASES
                                                      for ld in ("alone", "busy")]
    assert all(set(r["seconds"]) >= {"1", "auto"} and r["auto_picks"] for r in rows)
