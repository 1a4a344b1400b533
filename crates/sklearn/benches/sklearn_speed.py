"""scikit-learn's own speed on the tree benchmark models, single-threaded, for comparison with `benches/trees.rs`.

Loads `fixtures/bench/{rf-clf-100,hgb-clf}.joblib` and the 1000-row `batch.npy` (run `fixtures/gen_bench.py`
first) and prints rows/s of `predict_proba` on the whole batch and on its first row (best and median of 300 /
3,000 calls; benches/trees.rs reports the best too).

Run: `OMP_NUM_THREADS=1 $(scripts/fixtures-venv.sh) crates/sklearn/benches/sklearn_speed.py`
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import time  # noqa: E402

import joblib  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "bench")


def time_it(fn, calls=300):
    """Best and median wall time of `calls` calls: on a shared machine the best is the closest to the uncontended
    time (benches/trees.rs prints the same statistic)."""
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main():
    batch = np.load(os.path.join(BENCH, "batch.npy"))
    with threadpool_limits(limits=1):
        for name in ["rf-clf-100", "hgb-clf"]:
            model = joblib.load(os.path.join(BENCH, f"{name}.joblib"))
            if hasattr(model, "n_jobs"):
                model.n_jobs = 1
            for rows, calls in [(batch, 300), (batch[:1], 3000)]:
                model.predict_proba(rows)  # warm-up
                best, median = time_it(lambda: model.predict_proba(rows), calls)
                print(f"sklearn {name} predict_proba {len(rows):>4} rows: best {best * 1e3:.3f} ms/batch "
                      f"({len(rows) / best:,.0f} rows/s), median {median * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
