#!/usr/bin/env bash
# Vigie's planned-event forest against scikit-learn's RandomForestRegressor on the same generated
# history, the same split and the same features. Usage, from anywhere:
#
#   deploy/forecast/bench_sklearn.sh            # 5000 events, seed 42, 200 trees
#   N=10000 TREES=100 deploy/forecast/bench_sklearn.sh
#
# Installs numpy and scikit-learn from PyPI into .deps/py (git-ignored) the first time.
# Needs `vigie forecast` wired into the binary (src/main.rs).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
N="${N:-5000}"                # generated events
DATA_SEED="${DATA_SEED:-42}"  # generator seed
TREES="${TREES:-200}"
MIN_LEAF="${MIN_LEAF:-3}"
MAX_FEATURES="${MAX_FEATURES:-10}"   # of 30 features
SEED="${SEED:-42}"            # forest seed
K="${K:-10}"
WORK="${WORK:-$ROOT/var/forecast-bench}"
PY_DEPS="$ROOT/.deps/py"
VIGIE="${VIGIE:-$ROOT/target/release/vigie}"

if [ -z "${NO_BUILD:-}" ]; then
  (cd "$ROOT" && cargo build --release --bin vigie)
fi
if ! "$VIGIE" forecast --help >/dev/null 2>&1; then
  echo "error: $VIGIE has no 'forecast' subcommand (wire vigie::forecast::ForecastArgs into src/main.rs)" >&2
  exit 2
fi
if ! PYTHONPATH="$PY_DEPS" python3 -c "import sklearn, numpy" >/dev/null 2>&1; then
  echo "installing numpy and scikit-learn into $PY_DEPS" >&2
  python3 -m pip install --quiet --disable-pip-version-check --target "$PY_DEPS" "numpy>=1.24" "scikit-learn>=1.3"
fi

mkdir -p "$WORK"
"$VIGIE" forecast generate --n "$N" --seed "$DATA_SEED" --out "$WORK/all.csv" >/dev/null
# Chronological split, the same files for both sides: first 80 % train, last 20 % held out.
N_TEST=$(( N / 5 ))
N_TRAIN=$(( N - N_TEST ))
head -n $(( N_TRAIN + 1 )) "$WORK/all.csv" > "$WORK/train.csv"
{ head -n 1 "$WORK/all.csv"; tail -n "$N_TEST" "$WORK/all.csv"; } > "$WORK/test.csv"

"$VIGIE" forecast evaluate --train "$WORK/train.csv" --test "$WORK/test.csv" \
  --trees "$TREES" --min-samples-leaf "$MIN_LEAF" --max-features "$MAX_FEATURES" --seed "$SEED" --k "$K" \
  --export-features "$WORK/features" --json > "$WORK/vigie.json"

echo "vigie forecast generate --n $N --seed $DATA_SEED; evaluate --trees $TREES --min-samples-leaf $MIN_LEAF --max-features $MAX_FEATURES --seed $SEED --k $K"
PYTHONPATH="$PY_DEPS" python3 "$ROOT/deploy/forecast/bench_sklearn.py" --features "$WORK/features" --vigie "$WORK/vigie.json"
