#!/usr/bin/env bash
# The GPU check, one command on a fresh GPU machine (about 7 minutes on one H100-class GPU):
#   1. imports: torch, CUDA, detectron2 and relkd's dependencies (from .gpu_deps, made by
#      tools/gpu_deps.sh, when detectron2 is not installed);
#   2. the COCO-size overhead of every published method's COCO config (800x1333, batch 2,
#      random weights; tools/benchmark.py): fp32, then AMP with an fp16 teacher on
#      channels-last weights (c/(a+b32) against the fp32 NCHW teacher), peak memory in both;
#   3. a digits_det RetinaNet teacher (1,000 iterations) and an FGFI student (200 iterations)
#      trained on CUDA, with their AP.
# Results: output/gpu_check/{fp32,amp}/benchmark.md, output/gpu_check/digits/*/summary.json and
# output/gpu_check/report.md (device name, every figure, each step's wall time).
#
#   bash tools/gpu_check.sh            # on the GPU machine
#   bash tools/gpu_check.sh --dry-run  # anywhere: the same steps on the CPU, tiny sizes
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; elif [ -n "${1:-}" ]; then
    echo "gpu_check: unknown argument '$1' (only --dry-run)" >&2; exit 2
fi
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=output/gpu_check
mkdir -p "$OUT"
REPORT=$OUT/report.md

if ! "$PY" -c "import detectron2" 2>/dev/null; then
    if ! ls .gpu_deps/wheels/*.whl >/dev/null 2>&1; then
        echo "gpu_check: detectron2 is not importable and .gpu_deps/wheels is empty: run" \
            "tools/gpu_deps.sh where the package registry is reachable and carry .gpu_deps" >&2
        exit 1
    fi
    SITE=$(mktemp -d)
    for w in .gpu_deps/wheels/*.whl; do "$PY" -m zipfile -e "$w" "$SITE"; done
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/projects${PYTHONPATH:+:$PYTHONPATH}"

# 1. imports, and the device
DEVICE=$("$PY" - "$DRY" <<'PY'
import importlib, sys
missing = []
for name in ("torch", "torchvision", "numpy", "PIL", "cv2", "scipy", "sklearn", "pycocotools",
             "fvcore", "iopath", "omegaconf", "yacs", "detectron2", "relkd"):
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        missing.append(f"{name} ({type(e).__name__}: {e})")
if missing:
    sys.exit("gpu_check: cannot import " + "; ".join(missing))
import torch
if sys.argv[1] == "1":
    print("cpu")
elif not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device; use --dry-run to check the steps on a CPU")
else:
    print("cuda")
PY
)
NAME=$("$PY" -c "import torch; print(torch.cuda.get_device_name() if '$DEVICE' == 'cuda' else 'CPU (dry run)')")
{
    echo "# GPU check: $NAME"
    echo
    echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ)," \
        "torch $("$PY" -c 'import torch; print(torch.__version__)')."
} >"$REPORT"
step() {  # step NAME COMMAND...: run, time, and report
    local name=$1 t0=$SECONDS
    shift
    echo "[gpu_check] $name: $*"
    "$@"
    echo "- $name: $((SECONDS - t0)) s" >>"$REPORT"
}

# 2. overhead at COCO size; the dry run uses 128x128 images and one round (at 64x64 the
# RetinaNet p7 map is 1x1, where a bf16 AMP step of DRKD gives the student a NaN gradient)
CONFIGS=(configs/coco/faster_rcnn_R50_fgfi.py configs/coco/faster_rcnn_R50_drkd.py
    configs/coco/faster_rcnn_R50_drkd_R101_teacher.py configs/coco/faster_rcnn_R50_hgd.py
    configs/coco/retinanet_R50_drkd.py configs/coco/retinanet_R50_hgd.py
    configs/coco/dab_detr_R50_kd_detr.py)
if [ $DRY = 1 ]; then SIZE=(128 128); ROUNDS=(--iters 1 --warmup 0); else
    SIZE=(800 1333); ROUNDS=(--iters 20 --warmup 3); fi
BENCH=("$PY" tools/benchmark.py "${CONFIGS[@]}" --synthetic "${SIZE[@]}" --batch 2
    --random-teacher --device "$DEVICE" "${ROUNDS[@]}")
step "overhead fp32" "${BENCH[@]}" --output "$OUT/fp32"
step "overhead AMP, fp16 teacher" "${BENCH[@]}" --amp --teacher-dtype fp16 --output "$OUT/amp"

# 3. digits_det on the device: teacher, then a distilled student, each evaluated
if [ $DRY = 1 ]; then T_ITERS=4; S_ITERS=4; else T_ITERS=1000; S_ITERS=200; fi
TEACHER=$OUT/digits/teacher
EXTRA=()
[ $DRY = 1 ] && EXTRA=(train.teacher_preflight.enabled=False)
step "digits teacher ($T_ITERS iterations)" "$PY" train_net.py \
    --config-file configs/digits/retinanet_R50_teacher.py train.device="$DEVICE" \
    train.max_iter=$T_ITERS train.output_dir="$TEACHER"
step "digits FGFI student ($S_ITERS iterations)" "$PY" train_net.py \
    --config-file configs/digits/retinanet_R18_fgfi.py train.device="$DEVICE" \
    train.max_iter=$S_ITERS train.output_dir="$OUT/digits/fgfi" \
    model.teacher.weights="$TEACHER/model_final.pth" "${EXTRA[@]}"

"$PY" - "$OUT" >>"$REPORT" <<'PY'
import json, os, sys
out = sys.argv[1]
for mode in ("fp32", "amp"):
    with open(os.path.join(out, mode, "benchmark.md")) as f:
        print(f"\n## Overhead, {mode}\n\n" + f.read())
print("\n## digits_det on the device\n\n| run | iterations | AP | s/iter |\n|---|---:|---:|---:|")
for run in ("teacher", "fgfi"):
    with open(os.path.join(out, "digits", run, "summary.json")) as f:
        s = json.load(f)
    ap = s.get("results", {}).get("bbox", {}).get("AP")
    sec = s.get("sec_per_iter")
    ap, sec = ("-" if ap is None else f"{ap:.2f}"), ("-" if sec is None else f"{sec:.4f}")
    print(f"| {run} | {s.get('iterations')} | {ap} | {sec} |")
PY
echo "[gpu_check] done: $REPORT"
cat "$REPORT"
