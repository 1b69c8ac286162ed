"""A non-editable install ships the panel and registers the plugin entry point."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Build from a copy: setuptools reuses an in-tree build/ folder, which may hold stale files.
    source = tmp_path_factory.mktemp("source") / "tb-attention"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "runs", ".cache", "node_modules"
        ),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        timeout=300,
    )
    (name,) = [n for n in os.listdir(out) if n.endswith(".whl")]
    return out / name


def test_wheel_contains_package_and_frontend(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "tb_attention/serving/plugin.py" in names
    # Every module of the package (a new subpackage must not be left out of the wheel).
    modules = sorted(
        os.path.relpath(os.path.join(d, f), ROOT).replace(os.sep, "/")
        for d, _, files in os.walk(os.path.join(ROOT, "tb_attention"))
        for f in files
        if f.endswith(".py")
    )
    assert [m for m in modules if m not in names] == []
    assert "tb_attention/frontend/index.js" in names
    frontend_js = [n for n in names if n.startswith("tb_attention/frontend/") and n.endswith(".js")]
    shipped = [
        os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "frontend"))
        for d, _, files in os.walk(os.path.join(ROOT, "frontend"))
        for f in files
        if f.endswith(".js")
    ]
    assert sorted(n[len("tb_attention/frontend/") :] for n in frontend_js) == sorted(shipped)
    assert not any(n.startswith(("tests/", "demo/", "bench/")) for n in names)
    entry_points = zipfile.ZipFile(wheel).read([n for n in names if n.endswith("entry_points.txt")][0]).decode()
    assert "[tensorboard_plugins]" in entry_points
    assert "tb_attention = tb_attention.serving.plugin:AttentionLoader" in entry_points


def test_installed_wheel_serves_its_own_frontend(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    probe = (
        "import sys, tb_attention, importlib.metadata as md;"
        "from tb_attention.serving.static import frontend_files;"
        "files = frontend_files();"
        "assert tb_attention.__file__.startswith(sys.argv[1]), tb_attention.__file__;"
        "assert str(files['index.js']).startswith(sys.argv[1]), files['index.js'];"
        "eps = [e for e in md.entry_points(group='tensorboard_plugins') if e.name == 'tb_attention'];"
        "assert any(str(e.load().__module__) == 'tb_attention.serving.plugin' for e in eps);"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules;"
        "print('ok', len(files))"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    result = subprocess.run(
        [sys.executable, "-c", probe, str(target)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
