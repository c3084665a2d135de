"""coordtok.dataset: video collections tokenized into Parquet on Ray Data
(`coordtok-dataset tokenize`, or `python -m coordtok.dataset tokenize`), and
read back without Ray: NumPy batches, a PyTorch IterableDataset
(coordtok.dataset.torch_dataset.TokenDataset) and a row -> coordtok.Tokens
for Model.decode.  docs/dataset.md describes the format."""
from .read import iter_batches, read_clips, read_metadata, row_to_tokens, shards

__all__ = ["iter_batches", "read_clips", "read_metadata", "row_to_tokens", "shards"]
