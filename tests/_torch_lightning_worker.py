"""A LightningModule trained with a VLAP.torch loss under strategy="ddp" (2 CPU processes).

``python tests/_torch_lightning_worker.py OUT.json``: Lightning starts the second rank
itself (it re-runs this script), MASTER_ADDR/MASTER_PORT come from the environment.
Each rank gets its uneven slice of the first global batch of tests/_torch_ddp_worker.py
(7 and 6 rows); after one SGD step rank 0 writes the parameters, which
tests/test_torch_lightning.py compares with one process on the concatenated batch.
This is the README's "Lightning" example with a fixed model and data.
"""

import json
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _torch_ddp_worker as ddp_worker  # noqa: E402
import VLAP.torch  # noqa: E402


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(ddp_worker.IN, ddp_worker.OUT)
        self.loss = VLAP.torch.SigmoidF1(beta=2.0, eta=0.3)  # global batch under DDP

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)

    def train_dataloader(self):
        x, y, *_ = ddp_worker.global_batch(0)
        rank, sizes = self.global_rank, ddp_worker.SPLITS[0]
        lo = sum(sizes[:rank])
        part = torch.utils.data.TensorDataset(x[lo:lo + sizes[rank]], y[lo:lo + sizes[rank]])
        return torch.utils.data.DataLoader(part, batch_size=sizes[rank])


def main(out):
    module = Classifier()
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=1,
                        use_distributed_sampler=False, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(module)
    if trainer.global_rank == 0:
        params = torch.cat([p.detach().reshape(-1) for p in module.net.parameters()])
        Path(out).write_text(json.dumps(params.tolist()))


if __name__ == "__main__":
    main(sys.argv[1])
