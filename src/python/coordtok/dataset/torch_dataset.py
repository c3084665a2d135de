"""A PyTorch IterableDataset over a tokenized folder: shards shuffled per
epoch and split across DataLoader workers (and, given rank/world_size,
across distributed ranks), rows shuffled in a buffer; each item a dict of
tensors xy, yt, xt (tiles, ...) and the scalar columns asked for."""
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .read import iter_batches, shards


class TokenDataset(IterableDataset):
    def __init__(self, out, columns=("clip_id", "window", "n_frames", "xy", "yt", "xt"),
                 shuffle=True, seed=0, buffer=1024, rank=0, world_size=1):
        self.files = shards(out)
        if not self.files:
            raise FileNotFoundError(f"no committed shard in {out}")
        self.columns, self.shuffle, self.seed = list(columns), shuffle, seed
        self.buffer, self.rank, self.world_size = buffer, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch):
        """A new shard order each epoch (call before iterating, as with
        DistributedSampler)."""
        self.epoch = epoch

    def _my_files(self):
        files = list(self.files)
        if self.shuffle:      # the same order in every worker and rank: they split it
            np.random.default_rng((self.seed, self.epoch)).shuffle(files)
        info = get_worker_info()
        n_workers, worker = (info.num_workers, info.id) if info else (1, 0)
        part, parts = self.rank * n_workers + worker, self.world_size * n_workers
        return files[part::parts], (self.seed, self.epoch, part)

    def __iter__(self):
        files, seed = self._my_files()
        rng = np.random.default_rng(seed)
        buf = []
        for batch in iter_batches(None, batch_size=256, columns=self.columns,
                                  shuffle=self.shuffle, seed=seed, files=files):
            n = len(batch[self.columns[0]])
            for i in range(n):
                item = {k: _tensor(v[i]) for k, v in batch.items() if k in self.columns}
                if not self.shuffle:
                    yield item
                    continue
                if len(buf) < self.buffer:
                    buf.append(item)
                    continue
                j = int(rng.integers(len(buf)))
                yield buf[j]
                buf[j] = item
        if self.shuffle:
            rng.shuffle(buf)
        yield from buf


def _tensor(v):
    if isinstance(v, np.ndarray) and v.dtype != object:
        return torch.from_numpy(np.array(v))
    if isinstance(v, np.generic):
        return v.item()
    return v
