#!/usr/bin/env bash
# CI's torch-only job (issue 26): what a PyTorch user installs, and nothing else.
#   1. build the sdist and wheel (`python -m build`) and check them (`twine check --strict`)
#      with the current environment's python (CI: the dev venv, which has build and twine);
#   2. install the wheel with the `torch` and `hf` extras (versions from .ci/constraints.txt)
#      and the test tools into a fresh venv, and assert that TensorFlow, Keras and JAX are
#      not installed and that VLAP is the installed wheel (.ci/torch_only_check.py);
#   3. run the VLAP.torch tests, the README's PyTorch blocks (which also check that
#      TensorFlow and Keras were never imported) and the packaging tests there, with the
#      console script `pytest`, so that VLAP is imported from the wheel, not the source tree.
#
# Usage: .ci/torch_only.sh [WORK_DIR]  (default: a temporary folder, removed at exit)
# Fails when a step fails and when no test passed (tests/conftest.py: exit 5).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ $# -ge 1 ] && [ -n "$1" ]; then
    work=$1
    mkdir -p "$work"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
start=$(date +%s)
rm -rf "$work/dist" "$work/venv"
# built from the work folder: a `build/` folder that setuptools leaves in the repository
# would shadow the `build` package on sys.path
(cd "$work" && python -m build --outdir "$work/dist" "$root" > "$work/build.log" 2>&1) \
    || { cat "$work/build.log"; exit 1; }
python -m twine check --strict "$work"/dist/*
python3 -m venv "$work/venv"
wheel=$(ls "$work"/dist/*.whl)
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q "$wheel[torch,hf]" pytest hypothesis \
    -c .ci/constraints.txt
(cd "$work" && "$work/venv/bin/python" "$root/.ci/torch_only_check.py")
echo "== torch-only venv ready in $(( $(date +%s) - start ))s: $(du -sm "$work/venv" | cut -f1) MiB"
export PYTHONDONTWRITEBYTECODE=1
"$work/venv/bin/pytest" tests/test_torch.py tests/test_torch_conventions.py \
    tests/test_torch_hf.py tests/test_torch_ddp.py tests/test_torch_hf_ddp.py \
    tests/test_torch_lightning.py tests/test_torch_readme.py tests/test_extras.py --durations=10
echo "== torch-only job took $(( $(date +%s) - start ))s"
