"""The README's "Extending VLAP" guides run exactly as written.

Every code block that follows a ``<!-- guide-test: NAME -->`` marker in README.md
is written to a script and run in a fresh Python process, in an empty folder, on
the default backend. A guide's block is a whole program: it asserts or prints
what it promises, so a guide that no longer works fails here.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import backend_env

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ("dataset-kind", "loss", "metric", "decision-rule")


def guide_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- guide-test: ([\w-]+) -->\s*```python\n(.*?)```", text, re.S))


def test_every_extension_point_has_a_tested_guide():
    blocks = guide_blocks()
    missing = [name for name in EXPECTED if name not in blocks]
    assert not missing, f"README.md has no guide block for {missing}"


@pytest.mark.parametrize("name", sorted(guide_blocks()))
def test_guide_runs_as_written(name, tmp_path):
    script = tmp_path / f"guide_{name.replace('-', '_')}.py"
    script.write_text(guide_blocks()[name], encoding="utf-8")
    env = dict(backend_env("tensorflow"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # a guide that shows its output in a trailing comment prints exactly that
    for line in guide_blocks()[name].splitlines():
        shown = re.match(r"\s*print\(.*\)\s*#\s*(.+)$", line)
        if shown:
            assert shown.group(1).strip() in proc.stdout, (shown.group(1), proc.stdout)
