#!/usr/bin/env bash
# Tree-engine speed against the Python libraries (issue #14, item 8): ours and theirs back to back, single-threaded,
# on the same model files and rows (crates/{xgboost,lightgbm}/fixtures/gen_bench.py writes them), best of many runs
# each, then the ratios; the same for scikit-learn's RandomForest / HistGradientBoosting (crates/sklearn/benches) when
# its bench binary was prepared; and exec-to-ready of the release lightgbm-server on the 1,000-tree LightGBM model.
#   scripts/bench-trees.sh prepare   # once, before: the models (pinned venvs), the bench binaries and the server
#                                    # (release), copied into target/release/bench-trees/
#   scripts/bench-trees.sh           # the measurement, from those binaries (about 2 minutes on a quiet machine)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
out=target/release/bench-trees
xpy=$repo/.venv-xgboost/bin/python
lpy=$repo/.venv-lightgbm/bin/python
if [ "${1:-}" = prepare ]; then
  xpy=$(crates/xgboost/fixtures/venv.sh current)
  lpy=$(crates/lightgbm/fixtures/venv.sh current)
  [ -f crates/xgboost/fixtures/bench/multi-500x31.json ] || "$xpy" crates/xgboost/fixtures/gen_bench.py
  [ -f crates/lightgbm/fixtures/bench/regression-1000.txt ] || "$lpy" crates/lightgbm/fixtures/gen_bench.py
  mkdir -p "$out"
  for lib in xgboost lightgbm; do
    bin=$(cargo bench -p "oxserve-$lib" --bench predict --no-run --message-format=json 2>/dev/null |
      grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
    cp "$bin" "$out/$lib-predict"
  done
  spy=$(scripts/fixtures-venv.sh)
  "$spy" -m pip install -q --disable-pip-version-check threadpoolctl
  [ -f crates/sklearn/fixtures/bench/hgb-clf.joblib ] || "$spy" crates/sklearn/fixtures/gen_bench.py
  bin=$(cargo bench -p oxserve-sklearn --bench trees --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
  cp "$bin" "$out/sklearn-trees"
  cargo build --release -q -p oxserve-lightgbm-server --bin lightgbm-server
  cp target/release/lightgbm-server "$out/"
  ls -l "$out"
  exit 0
fi
export OMP_NUM_THREADS=1
log=$(mktemp)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# A criterion filter that matches nothing: the binaries print only their best-of-n rows/s lines.
for lib in xgboost lightgbm; do
  "$out/$lib-predict" --bench NO_CRITERION_GROUP | grep 'rows/s' | sed "s/^/ours   /" | tee -a "$log"
  py=$xpy
  [ "$lib" = lightgbm ] && py=$lpy
  "$py" "crates/$lib/fixtures/gen_bench.py" --time-only | sed "s/^/python /" | tee -a "$log"
done
if [ -x "$out/sklearn-trees" ]; then
  "$out/sklearn-trees" --bench NO_CRITERION_GROUP | grep 'rows/s' | sed "s/^/ours   /" | tee -a "$log"
  OMP_NUM_THREADS=1 .venv-fixtures/bin/python crates/sklearn/benches/sklearn_speed.py |
    sed -E 's/^sklearn ([^ ]+) predict_proba +([0-9]+) rows: best [0-9.]+ ms\/batch \(([0-9,]+) rows\/s\).*/python \1 \2 rows: predict_proba \3 rows\/s/' |
    tee -a "$log"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# Ratios: ours ÷ inplace_predict (XGBoost) / Booster.predict (LightGBM) / predict_proba (scikit-learn), per model
# and batch size.
awk '
  /^ours/ { gsub(",", ""); ours[$2 " " $3] = $(NF - 1) }
  /^python/ { gsub(",", ""); for (i = 1; i <= NF; i++) if ($i == "rows/s" || $i == "rows/s,") { lib[$2 " " $3] = $(i - 1); break } }
  END { for (k in ours) if (k in lib) printf "ratio  %-22s rows: ours %10.0f / library %9.0f = %5.1fx\n", k, ours[k], lib[k], ours[k] / lib[k] }
' "$log" | sort
rm -f "$log"
BIN=$out/lightgbm-server scripts/bench-startup.sh 5 lightgbm-server crates/lightgbm/fixtures/bench/regression-1000.txt
