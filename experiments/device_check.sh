#!/usr/bin/env bash
# GPU/TPU readiness in one short run: installs hoijax for the accelerator it finds, then
# runs the README demo fit, the 2D prior's training throughput at the paper config
# (bfloat16 activations), the renderer benchmarks and the step profile, and prints one
# table. Run from the repository root on the accelerator machine:
#
#   bash experiments/device_check.sh            # the full check (~5-8 min on one GPU)
#   QUICK=1 bash experiments/device_check.sh    # a 2-minute smoke run (tiny demo, CPU ok)
#
# Results land in ${OUT:-runs/device_check}/ (device_check.json and the logs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/device_check}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if command -v nvidia-smi >/dev/null 2>&1; then
  EXTRA=".[cuda]"
elif [ -e /dev/accel0 ] || [ -n "${TPU_NAME:-}" ]; then
  EXTRA=".[tpu]"
else
  EXTRA="."
fi
python -c "import hoijax" 2>/dev/null || pip install --quiet -e "$EXTRA" \
  || { echo "install failed ($EXTRA)"; exit 1; }

if [ -n "${QUICK:-}" ]; then
  DEMO_ARGS="--config=configs/reconstruct.py:tiny"
  PRIOR_ARGS="--configs=default --batch=8 --steps=2"
else
  DEMO_ARGS=""
  PRIOR_ARGS="--configs=default,paper --batch=128 --paper_batch=64 --steps=10"
fi

run() {  # name, command...: runs one part, records its wall time and exit status
  local name=$1; shift
  local t0; t0=$(date +%s%N)
  "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name $rc $(( ($(date +%s%N) - t0) / 1000000 ))" >>"$OUT/parts.txt"
}
rm -f "$OUT/parts.txt"
python - <<'EOF' >"$OUT/devices.txt" 2>&1
import jax; print(jax.default_backend(), len(jax.devices()), jax.devices()[0].device_kind)
EOF
run demo python -m hoijax.reconstruct --clip=synthetic:mug --out="$OUT/demo" $DEMO_ARGS
run prior_throughput python experiments/bench_prior.py --throughput $PRIOR_ARGS \
  --out="$OUT/prior.json"
run render python experiments/bench_render.py --out="$OUT/render.json"
run profile python experiments/profile_step.py --repeats=5 --tag=device \
  --results="$OUT/profile_step.json" $DEMO_ARGS

python - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
rows = [line.split() for line in open(os.path.join(out, "parts.txt"))]
print("devices:", open(os.path.join(out, "devices.txt")).read().strip())
print(f"{'part':18s} {'exit':>4s} {'wall s':>8s}  figures")
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else {}
figures = {
    "demo": lambda: {k: load("demo/metrics.json").get(k) for k in ("F@5", "F@10", "seconds")},
    "prior_throughput": lambda: {k: v.get("images_per_s") for k, v in load("prior.json").items()
                                 if k.startswith("throughput")},
    "render": lambda: {k: v for k, v in load("render.json").items() if "per_s" in k},
    "profile": lambda: load("profile_step.json").get("device", {}).get("ms"),
}
record = {}
for name, rc, wall in rows:
    try:
        fig = figures[name]()
    except Exception as e:  # a part that failed leaves no figures
        fig = f"({type(e).__name__})"
    record[name] = dict(exit=int(rc), wall_s=int(wall) / 1e3, figures=fig)
    print(f"{name:18s} {rc:>4s} {int(wall) / 1e3:8.1f}  {fig}")
json.dump(record, open(os.path.join(out, "device_check.json"), "w"), indent=1)
EOF
