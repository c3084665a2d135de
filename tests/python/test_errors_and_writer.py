"""What a newcomer meets first in Python (issue #20): write_tokens as the
README shows it, one family of exceptions that are also the builtins one
would catch, and no half-written file when writing fails."""
import os

import numpy as np
import pytest

import coordtok

TINY = os.environ["CT_TEST_TINY"]


@pytest.fixture(scope="module")
def model():
    return coordtok.Model(TINY, device="cpu")


def frames(model, n):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, model.height, model.width, 3), dtype=np.uint8)


def test_write_tokens_takes_one_tokens(model, tmp_path):
    t = model.encode(frames(model, 5))
    path = tmp_path / "one.ctok"
    assert coordtok.write_tokens(path, t) == 1          # as README.md shows it
    back = list(coordtok.read_tokens(path))
    assert len(back) == 1 and back[0].n_frames == 5
    np.testing.assert_array_equal(back[0].xy, t.xy)
    assert coordtok.write_tokens(path, [t, t]) == 2
    assert len(list(coordtok.read_tokens(path))) == 2


def test_failed_write_leaves_no_file(model, tmp_path):
    t = model.encode(frames(model, 2))
    path = tmp_path / "bad.ctok"
    with pytest.raises(coordtok.InvalidInputError, match="not a coordtok.Tokens"):
        coordtok.write_tokens(path, [t, "not tokens"])
    with pytest.raises(coordtok.InvalidInputError, match="not int"):
        coordtok.write_tokens(path, 5)
    assert os.listdir(tmp_path) == []


def test_one_family_of_errors(model, tmp_path):
    for cls, builtin in [(coordtok.InvalidInputError, ValueError),
                         (coordtok.FileAccessError, OSError),
                         (coordtok.DeviceError, RuntimeError)]:
        assert issubclass(cls, coordtok.CoordTokError) and issubclass(cls, builtin)
    with pytest.raises(coordtok.FileAccessError):
        coordtok.Model(str(tmp_path / "missing.safetensors"))
    text = tmp_path / "notes.txt"
    text.write_text("# some notes, not weights\n" * 10)
    with pytest.raises(coordtok.InvalidInputError, match="text file"):
        coordtok.Model(str(text))
    with pytest.raises(coordtok.InvalidInputError, match="device"):
        coordtok.Model(TINY, device="gpu")
    with pytest.raises(coordtok.InvalidInputError, match="uint8"):
        model.encode(np.zeros((2, 8, 8, 3), np.float32))
    bad = tmp_path / "bad.ctok"
    bad.write_bytes(b"CTOK" + b"\0" * 200)
    with pytest.raises(coordtok.CoordTokError):
        list(coordtok.read_tokens(bad))
