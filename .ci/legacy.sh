#!/usr/bin/env bash
# CI for the `legacy` extra: the paper's original flow (transformers 4.57.6
# TFDistilBertForSequenceClassification on tf-keras) trained with VLAP.train.
#
# Usage: .ci/legacy.sh [VENV_DIR]
#   VENV_DIR: where to create the fresh virtual environment (must not exist, be
#   empty, or be a virtual environment, which is then cleared); a temporary
#   folder, removed at exit, when omitted. $PYTHON picks the interpreter
#   (default python3).
#
# Fails when the install fails, when a test fails, and when no test passed
# (pytest exit 5 included: the legacy tests skip where the extra is missing, so
# "all skipped" here means the extra did not install as it should).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ $# -ge 1 ] && [ -n "$1" ]; then
    venv=$1
    if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
        echo "legacy.sh: $venv exists, is not empty and is not a virtual environment; refusing to clear it" >&2
        exit 2
    fi
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
else
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    venv=$scratch/venv
fi

start=$(date +%s)
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# the versions CI tests (.ci/constraints.txt), with transformers 4 instead of 5
grep -v -E '^(transformers|sentence-transformers|tokenizers)==' .ci/constraints.txt \
    > "$scratch/constraints.txt"
printf 'transformers==4.57.6\ntf-keras==2.21.0\n' >> "$scratch/constraints.txt"
# the legacy extra and pytest only: tests/test_legacy.py needs neither torch nor jax, and
# the dev extra's other frameworks made this install the slowest step of the job
"$venv/bin/python" -m pip install -q -e ".[legacy]" pytest -c "$scratch/constraints.txt"
echo "== legacy venv installed in $(( $(date +%s) - start ))s: $("$venv/bin/python" -c '
import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ("transformers", "tf-keras", "keras", "tensorflow")))')"

export KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 PYTHONDONTWRITEBYTECODE=1
report=$scratch/legacy-junit.xml
set +e
"$venv/bin/python" -m pytest -m legacy tests/test_legacy.py -rs -p no:cacheprovider \
    --junitxml="$report"
status=$?
set -e
if [ "$status" -ne 0 ]; then
    echo "legacy.sh: pytest failed (exit $status; 5 means nothing passed)" >&2
    exit "$status"
fi
# Belt and braces: count passed tests from the JUnit report ourselves.
passed=$("$venv/bin/python" - "$report" <<'EOF'
import sys
import xml.etree.ElementTree as ET

passed = 0
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if not any(child.tag in ("skipped", "failure", "error") for child in case):
        passed += 1
print(passed)
EOF
)
if [ "$passed" -eq 0 ]; then
    echo "legacy.sh: no legacy test passed" >&2
    exit 5
fi
echo "== legacy: $passed test(s) passed in $(( $(date +%s) - start ))s (install included)"
