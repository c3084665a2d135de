#!/bin/bash
# The Python side of the set-up (coordtok-dataset, docs/dataset.md): a virtual
# environment .venv at the repository root that sees Debian's site-packages
# (GStreamer's gi, NumPy 1.24, PyTorch) and adds Ray Data.  The pins keep
# Debian's NumPy: newer pyarrow and pandas pull NumPy 2, which breaks
# Debian's compiled modules and a coordtok extension built against 1.24.
# Idempotent: pip runs only when a pin is not satisfied yet.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
REQS=("ray[data]==2.60.0" "numpy<1.25" "pyarrow<19" "pandas<2.3")

[ -x .venv/bin/python ] || "$PY" -m venv --system-site-packages .venv
if ! .venv/bin/python - "${REQS[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    r = Requirement(spec)
    if not r.specifier.contains(version(r.name), prereleases=True):
        sys.exit(1)
PYEOF
then
  .venv/bin/pip install --disable-pip-version-check -q "${REQS[@]}"
fi
# what the dataset tool imports, and NumPy still Debian's 1.24
.venv/bin/python -c '
import gi, numpy, pyarrow, pandas, ray
gi.require_version("Gst", "1.0")
assert numpy.__version__.startswith("1.24"), "NumPy " + numpy.__version__ + ", expected 1.24"
print("python venv ok: ray", ray.__version__, "pyarrow", pyarrow.__version__, "numpy", numpy.__version__)'
