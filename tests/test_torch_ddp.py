"""VLAP.torch under DistributedDataParallel: 2 CPU processes on gloo (loopback only).

The first updates of DDP with the global-batch losses equal those of one process on
the concatenated batch (to 1e-6), for sigmoidF1, the F-beta/precision/recall/Jaccard/
MCC family, WeightedSum (with BCE, ASL and the label-count error, row and entry
weights), Scheduled, EMASigmoidF1 (three steps: its moving average is synced) and
the Two-way loss (its class-wise log-sum-exps span the global batch; alone, with
entry weights, and in WeightedSum with ZLPR), with uneven batches on the two ranks.

VLAP.torch does not use Keras, so these tests run once, in the TensorFlow (default)
pass of CI, and are skipped in the torch and jax passes: the result cannot differ and
two processes of torch cost about 10 s a pass on a 2-core box.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip("VLAP.torch does not use Keras: the multi-process checks run once, in the "
                "TensorFlow pass", allow_module_level=True)
torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _torch_ddp_worker as worker  # noqa: E402
import VLAP.torch as vt  # noqa: E402

TIMEOUT = 240


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(script_args, world=2, timeout=TIMEOUT, env=None):
    """Start ``world`` ranks of a worker script; returns their stdout/stderr.
    Kills every rank when one fails or the time is up, so a hang fails the test."""
    env = dict(os.environ if env is None else env, GLOO_SOCKET_IFNAME="lo",
               CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, *script_args(rank)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(world)]
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        outs = [p.communicate() for p in procs]
        pytest.fail("DDP ranks did not finish in time:\n" + "\n".join(o[1][-2000:] for o in outs))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return outs


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    port = free_port()
    run_ranks(lambda rank: [str(HERE / "_torch_ddp_worker.py"), str(rank), "2", str(port),
                            str(folder / f"rank{rank}.json")])
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(2)]


GLOBAL_CASES = [name for name in worker.CASES if name != "sigmoid_f1_local"]


@pytest.mark.parametrize("name", GLOBAL_CASES)
def test_ddp_update_equals_one_process_on_the_concatenated_batch(ddp_results, name):
    reference = "sigmoid_f1" if name == "sigmoid_f1_global" else name
    params, losses = worker.run_case(reference)  # one process, whole batches
    for rank, results in enumerate(ddp_results):
        got_params, got_losses = results[name]
        np.testing.assert_allclose(got_params, params, rtol=0, atol=1e-6,
                                   err_msg=f"{name}, rank {rank}")
        np.testing.assert_allclose(got_losses, losses, rtol=0, atol=1e-6,
                                   err_msg=f"{name}, rank {rank}")


def test_local_sync_is_the_per_rank_loss_and_differs(ddp_results):
    params, losses = worker.run_case("sigmoid_f1_local")
    got_params, got_losses = ddp_results[0]["sigmoid_f1_local"]
    assert np.max(np.abs(np.subtract(got_params, params))) > 1e-4
    # rank 0's loss is its own 7 rows' sigmoidF1
    x, y, *_ = worker.global_batch(0)
    torch.manual_seed(0)
    model = torch.nn.Linear(worker.IN, worker.OUT)
    with torch.no_grad():
        assert got_losses[0] == pytest.approx(float(vt.SigmoidF1()(model(x[:7]), y[:7])),
                                              abs=1e-6)


def test_no_grad_evaluation_stays_local_so_one_rank_may_call_it(ddp_results):
    x, y, *_ = worker.global_batch(0)
    assert ddp_results[0]["no_grad_local"] == pytest.approx(
        float(vt.SigmoidF1()(x[:, :worker.OUT], y)), abs=1e-6)


def test_sync_argument_is_checked():
    with pytest.raises(ValueError, match="argument `sync`"):
        vt.SigmoidF1(sync="all")
    with pytest.raises(RuntimeError, match="sync='global'.*not initialised"):
        vt.WeightedSum(sync="global")(torch.zeros(2, 3, requires_grad=True), torch.ones(2, 3))
    assert "sync='local'" in repr(vt.EMASigmoidF1(sync="local"))
