#!/usr/bin/env bash
# Create .venv with Python 3.10 (PATH first, then pyenv) and install relkd's stack into it.
# Idempotent: a stamp file records the requirements that were installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
STAMP="$VENV/.relkd-installed"

find_python() {
    local cand
    for cand in python3.10 python3; do
        if command -v "$cand" >/dev/null 2>&1 \
            && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
            command -v "$cand"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for cand in "$(pyenv root)"/versions/3.10*/bin/python3.10; do
            if [ -x "$cand" ] && "$cand" -c 'import sys' 2>/dev/null; then
                echo "$cand"; return 0
            fi
        done
    fi
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY=$(find_python) || {
        echo "relkd setup: no working Python 3.10 found (looked on PATH for python3.10/python3," >&2
        echo "then in \$(pyenv root)/versions/3.10*). The registry's detectron2 build" >&2
        echo "(sal-detectron2) is CPython 3.10 only. Install Python 3.10 and retry." >&2
        exit 1
    }
    echo "relkd setup: creating $VENV with $PY"
    "$PY" -m venv "$VENV"
fi

want=$(cat requirements.txt pyproject.toml | sha1sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi
pip_install() {
    # the local registry mirrors warn once per package they do not hold: drop that noise only
    "$VENV/bin/python" -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}
echo "relkd setup: installing requirements into $VENV (torch with its CUDA libraries: a few GB)"
pip_install --upgrade "pip<25" wheel
pip_install -r requirements.txt
if "$VENV/bin/python" -c 'import detectron2' 2>/dev/null; then
    echo "relkd setup: detectron2 already importable, not installing sal-detectron2"
else
    pip_install "sal-detectron2==0.7.2"
fi
pip_install --no-deps -e .
"$VENV/bin/python" -c 'import torch, torchvision, detectron2, relkd; print("relkd setup: torch",
torch.__version__, "| detectron2", detectron2.__version__)'
echo "$want" > "$STAMP"
