"""Times scikit-learn on the same models and 1000-row batches as `cargo bench -p oxserve-sklearn --bench families`,
single-threaded. Run with the fixtures venv: `OMP_NUM_THREADS=1 $(scripts/fixtures-venv.sh)
crates/sklearn/benches/families_sklearn.py`. Prints rows/s per case (median of repeated calls)."""
import json
import os
import re
import time

import joblib
import numpy as np
from threadpoolctl import threadpool_limits

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "..", "fixtures", "cases")
src = open(os.path.join(HERE, "families.rs")).read()
CASES = re.findall(r'^\s+"([a-z0-9-]+)",$', src, re.M)
ROWS = 1000

with threadpool_limits(1):
    for name in CASES:
        d = os.path.join(CASES_DIR, name)
        if not os.path.isdir(d):
            continue
        case = json.load(open(os.path.join(d, "case.json")))
        X = np.array(case["X"], dtype=np.float64)
        X = np.tile(X, (ROWS // len(X) + 1, 1))[:ROWS]
        model = joblib.load(os.path.join(d, case["artifact"]))
        f = getattr(model, case["default_method"])
        f(X)
        times = []
        deadline = time.perf_counter() + 2.0
        while time.perf_counter() < deadline or len(times) < 5:
            t = time.perf_counter()
            f(X)
            times.append(time.perf_counter() - t)
        med = sorted(times)[len(times) // 2]
        print(f"{name:40s} {med * 1e3:9.3f} ms  {ROWS / med:12.0f} rows/s")
