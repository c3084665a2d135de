"""A training-loop skeleton over a folder `coordtok-dataset tokenize` wrote:
PyTorch reads the windows' token planes through coordtok.dataset's
IterableDataset (shards shuffled per epoch, split across DataLoader workers
and ranks) and trains a toy model on them.  Replace ToyModel with yours.

    PYTHONPATH=build/src/python .venv/bin/python docs/examples/dataset_train_loop.py OUT [EPOCHS]
"""
import sys

import torch
from torch.utils.data import DataLoader

from coordtok.dataset import read_metadata
from coordtok.dataset.torch_dataset import TokenDataset


class ToyModel(torch.nn.Module):
    """Predicts the xt plane from the xy plane: stands in for a diffusion
    transformer over the triplane tokens."""

    def __init__(self, n_xy, n_xt):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(n_xy, 256), torch.nn.GELU(),
                                       torch.nn.Linear(256, n_xt))

    def forward(self, xy):
        return self.net(xy.flatten(1))


def main(out, epochs=1):
    meta = read_metadata(out)              # shapes of the planes, model id
    s = meta["shapes"]
    n_xy, n_xt = s["xy"][1] * s["xy"][2] * s["xy"][3], s["xt"][1] * s["xt"][2] * s["xt"][3]
    ds = TokenDataset(out, columns=("xy", "xt"), shuffle=True, seed=0)
    # rank/world_size in TokenDataset(...) split the shards across processes
    loader = DataLoader(ds, batch_size=32, num_workers=2)
    model = ToyModel(n_xy, n_xt)            # one tile per window (--size model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        ds.set_epoch(epoch)                 # a new shard order each epoch
        total, n = 0.0, 0
        for batch in loader:
            xy = batch["xy"].float()[:, 0]   # (B, rxy, rxy, C): the first tile
            xt = batch["xt"].float()[:, 0]
            loss = torch.nn.functional.mse_loss(model(xy), xt.flatten(1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(xy), n + len(xy)
        print(f"epoch {epoch}: {n} windows, mean loss {total / max(n, 1):.4f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
