#!/usr/bin/env bash
# Installs by framework (issue 26): the size on disk and the time of a fresh venv per extra,
# from the wheel, with the versions CI pins (.ci/constraints.txt, CPU torch).
#
# Usage: bash benchmarks/bench_install.sh [EXTRAS ...]   (default: torch torch,hf keras)
# Prints one line per extra set: seconds to install, MiB of the venv (`du -sm`, the venv's
# own pip and setuptools included), MiB of torch and tensorflow in it, and whether
# tensorflow, keras or jax got installed. Needs `build` in the current python.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && python -m build --wheel --outdir "$work/dist" "$root" > "$work/build.log" 2>&1) \
    || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
[ $# -gt 0 ] || set -- torch torch,hf keras
echo "extras        seconds  venv MiB  torch MiB  tensorflow MiB  frameworks installed"
for extras in "$@"; do
    venv=$work/venv-${extras//,/-}
    python3 -m venv "$venv"
    start=$(date +%s)
    "$venv/bin/python" -m pip install -q "$wheel[$extras]" -c .ci/constraints.txt 2>&1 \
        | { grep -v "WARNING: Location" || true; }
    seconds=$(( $(date +%s) - start ))
    site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    size() { if [ -d "$site/$1" ]; then du -sm "$site/$1" | cut -f1; else echo 0; fi; }
    there=$("$venv/bin/python" -c "
import importlib.util
print(','.join(m for m in ('tensorflow', 'keras', 'jax', 'torch') if importlib.util.find_spec(m)) or '-')")
    printf "%-13s %7s  %8s  %9s  %14s  %s\n" "$extras" "$seconds" \
        "$(du -sm "$venv" | cut -f1)" "$(size torch)" "$(size tensorflow)" "$there"
done
