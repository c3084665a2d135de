"""The common start of the training tests: puts src/train on sys.path and
exits with status 77 (meson's "skip"), saying why, where PyTorch is absent.

    from train_test_env import ROOT   # first, before importing src/train
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "src", "train"))

try:
    import torch  # noqa: F401
except ImportError:
    print("SKIP: PyTorch is not installed for this Python "
          f"({sys.executable}); use Debian's /usr/bin/python3 with python3-torch")
    sys.exit(77)
