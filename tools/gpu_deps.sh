#!/usr/bin/env bash
# Bring detectron2's Python code and relkd's pure-Python dependencies to a GPU machine that has
# only Python 3.12 with torch and torchvision, and no package registry (../shared/ENVIRONMENT.md).
# Run here, where the registry is reachable; it fills .gpu_deps/ (git-ignored) with wheels, under
# the device tool's 64 MiB carry limit; tools/gpu_check.sh unpacks them on the GPU machine and
# puts them on PYTHONPATH when detectron2 is not importable there (carry .gpu_deps).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEPS=.gpu_deps
rm -rf "$DEPS" && mkdir -p "$DEPS/wheels"
pip() { "$PY" -m pip "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
# detectron2's code: the registry's build is tagged CPython 3.10, and its Python code runs on
# 3.12 (its compiled ops do not load in either, and relkd does not use them)
pip download -q --no-deps --only-binary=:all: --python-version 3.10 -d "$DEPS/wheels" \
    sal-detectron2==0.7.2
# pure Python, some published as source only: built into wheels here
pip wheel -q --no-deps -w "$DEPS/wheels" fvcore iopath antlr4-python3-runtime==4.9.3 omegaconf \
    hydra-core yacs termcolor tabulate portalocker
pip download -q --no-deps -d "$DEPS/wheels" joblib threadpoolctl cloudpickle tqdm
# compiled: for the GPU machine's CPython 3.12 (pycocotools for COCOEvaluator, scipy for
# DAB-DETR's Hungarian matching, scikit-learn for the digits digits_det is drawn from)
pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 -d "$DEPS/wheels" pycocotools scipy scikit-learn pyyaml
du -sh "$DEPS/wheels"
