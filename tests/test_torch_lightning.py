"""Lightning: a LightningModule with a VLAP.torch loss under strategy="ddp" (2 CPU
processes, gloo on loopback) makes the single-process update of the concatenated batch,
as the plain DDP checks of tests/test_torch_ddp.py do.

VLAP.torch does not use Keras, so this runs once, in the TensorFlow (default) pass.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip("VLAP.torch does not use Keras: the Lightning check runs once, in the "
                "TensorFlow pass", allow_module_level=True)
torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _torch_ddp_worker as ddp_worker  # noqa: E402
from test_torch_ddp import free_port  # noqa: E402


@pytest.mark.slow
def test_lightning_ddp_first_update_equals_one_process(tmp_path):
    out = tmp_path / "params.json"
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               GLOO_SOCKET_IFNAME="lo", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1",
               PYTHONPATH=str(HERE.parent))
    # Lightning's launcher starts rank 1 as a child of this process group: kill them all
    # on a timeout (start_new_session gives them a group of their own)
    proc = subprocess.Popen([sys.executable, str(HERE / "_torch_lightning_worker.py"), str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, err = proc.communicate()
        pytest.fail("Lightning DDP run did not finish in time:\n" + err[-3000:])
    assert proc.returncode == 0, err[-3000:]
    params, _ = ddp_worker.run_case("sigmoid_f1")
    np.testing.assert_allclose(json.loads(out.read_text()), params, rtol=0, atol=1e-6)
