"""VLAP.torch.hf.loss_for_trainer under the multi-process Hugging Face Trainer.

Two CPU processes (gloo on 127.0.0.1, the environment torchrun sets) train a tiny
randomly initialised BertForSequenceClassification (multi-label; no download) with
``transformers.Trainer(compute_loss_func=VLAP.torch.hf.loss_for_trainer("sigmoidF1"))``
for ONE SGD step (tests/_torch_hf_ddp_worker.py). The parameters after that step must
equal (1e-6) a single process, without the Trainer, stepping on

    sum over micro-batches m of (rows of m / rows of the step) * sigmoidF1(m)

where micro-batch m is the concatenation of what every rank saw at micro-step m:

* (a) ``even``: 4 + 4 rows, no accumulation: sigmoidF1 of the 8 rows;
* (b) ``uneven``: 4 + 3 rows (``accelerator_config={"even_batches": False}``);
  ``uneven_padded``: the Trainer's default ``even_batches=True`` pads rank 1 with row 0
  again, so the step is that of rows 0-6 plus row 0 (accelerate's choice, not VLAP's);
* (c) ``accumulate``/``accumulate_uneven``: ``gradient_accumulation_steps=2`` gives the
  example-weighted mean of the two global micro-batches' sigmoidF1 (8/16 + 8/16, and
  8/14 + 6/14), *not* the sigmoidF1 of all the accumulated rows, which is checked to
  differ.

Also with ``TrainingArguments(average_tokens_across_devices=False)``, for BCE (an
element-wise loss, not synced: each rank returns its share of the global mean) and for
WeightedSum. The loss the Trainer reports (``TrainOutput.training_loss``; the logs
average it over ranks) is that mean: on every rank for the batch-level losses, as the
mean over ranks for BCE.

VLAP.torch does not use Keras, so this runs once, in the TensorFlow (default) pass of
CI (two processes importing transformers: 35-60 s on a loaded 2-core box, so slow).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip("VLAP.torch does not use Keras: the multi-process Trainer checks run once, "
                "in the TensorFlow pass", allow_module_level=True)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _torch_hf_ddp_worker as worker  # noqa: E402
from test_torch_ddp import free_port, run_ranks  # noqa: E402


@pytest.fixture(scope="module")
def trainer_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf_ddp")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    run_ranks(lambda rank: [str(HERE / "_torch_hf_ddp_worker.py"), str(rank), "2", str(port),
                            str(folder / f"rank{rank}.json")], env=env)
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(worker.CASES))
def test_trainer_step_on_two_ranks_equals_one_process(trainer_results, name):
    params, loss = worker.reference(name)
    for rank, results in enumerate(trainer_results):
        got_params, seen, _ = results[name]
        # the shards are what the reference concatenates
        assert seen == worker.CASES[name][4][rank], (name, rank, seen)
        np.testing.assert_allclose(got_params, params, rtol=0, atol=1e-6,
                                   err_msg=f"{name}, rank {rank}")
    # the reported loss: the Trainer logs the mean over ranks of what each returns
    reported = [results[name][2] for results in trainer_results]
    assert np.mean(reported) == pytest.approx(loss, abs=1e-6), (name, reported)
    if worker.CASES[name][5].get("loss", "sigmoidF1") != "bce":
        # a batch-level loss is the global batch's on every rank; an element-wise one
        # returns this rank's share (its mean over ranks is the global mean)
        assert reported == pytest.approx([loss, loss], abs=1e-6), (name, reported)


def test_accumulation_is_the_mean_of_micro_batch_losses_not_the_f1_of_all_rows():
    """The documented semantics of (c) are a real choice: the sigmoidF1 of the 16
    accumulated rows in one pass makes a different step."""
    import VLAP.torch as vt

    params, _ = worker.reference("accumulate")
    data = worker.rows(16)
    model = worker.make_model()
    ids = torch.stack([r["input_ids"] for r in data])
    y = torch.stack([r["labels"] for r in data])
    vt.SigmoidF1()(model(input_ids=ids).logits, y).backward()
    with torch.no_grad():
        whole = torch.cat([(p - worker.LR * p.grad).reshape(-1) for p in model.parameters()])
    assert np.max(np.abs(whole.numpy() - np.asarray(params))) > 1e-5
