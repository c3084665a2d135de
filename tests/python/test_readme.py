"""README.md's Python example runs as printed (issue #20: it called
write_tokens in a way that raised TypeError), from a fresh directory, with
the set-up the README gives (PYTHONPATH=build/src/python, Debian's Python,
no COORDTOK_MODEL_DIR: the default model is linked into the library)."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_python_example():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    # the indented block that starts with the package import
    m = re.search(r"\n((?:    .*\n)*    import coordtok\n(?:    .*\n)+)", text)
    assert m, "README.md has no indented block with 'import coordtok'"
    return "\n".join(line[4:] for line in m.group(1).splitlines())


def test_readme_example_runs(tmp_path):
    code = readme_python_example()
    assert "write_tokens" in code and "decode" in code
    env = {k: v for k, v in os.environ.items() if k != "COORDTOK_MODEL_DIR"}
    r = subprocess.run([sys.executable, "-c", code + "\nprint('frames', frames.shape)"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "frames (16, 128, 128, 3)" in r.stdout
    assert (tmp_path / "clip.ctok").stat().st_size > 0


def test_readme_pythonpath_is_the_build_layout():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    paths = set(re.findall(r"PYTHONPATH=(\S+)", text))
    assert paths == {"build/src/python"}, paths
    built = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if os.path.exists(os.path.join(p, "coordtok", "__init__.py"))]
    assert any(p.replace(os.sep, "/").endswith("/src/python") for p in built), built
