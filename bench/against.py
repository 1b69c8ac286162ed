"""Serving another checkout's tb_attention beside this one, for side-by-side benchmarks: a
TensorBoard whose `tb_attention` (plugin and panel) is imported from DIR (e.g. `git archive main |
tar -x -C DIR`), in this checkout's virtualenv. This checkout is installed in editable mode, whose
import hook would win over PYTHONPATH; a `sitecustomize` on PYTHONPATH takes it out and puts DIR
first, and the panel's files (`tb_attention.frontend`, which the package maps to DIR/frontend) are
linked in."""

import os
import tempfile

from tests.helpers.tb_process import TensorBoardProcess

SITECUSTOMIZE = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "") + repr(f)]
sys.path.insert(0, %r)
"""


def against_env(checkout):
    """The environment of a process that imports `checkout`'s tb_attention instead of this one's."""
    checkout = os.path.abspath(checkout)
    frontend = os.path.join(checkout, "tb_attention", "frontend")
    if not os.path.exists(frontend):
        os.symlink(os.path.join(checkout, "frontend"), frontend)
    boot = tempfile.mkdtemp(prefix="tb-attention-against-")
    with open(os.path.join(boot, "sitecustomize.py"), "w") as f:
        f.write(SITECUSTOMIZE % checkout)
    return {"PYTHONPATH": boot, "PYTHONSAFEPATH": "1"}  # not the working directory (this checkout) first


def tensorboard(logdir, checkout=None):
    """A TensorBoardProcess (not started) serving `logdir` with this checkout's code, or `checkout`'s."""
    return TensorBoardProcess(logdir, env=against_env(checkout) if checkout else None)


def serves_checkout(tb, checkout):
    """Whether `tb` serves `checkout`'s panel (its matrix view is byte for byte that checkout's)."""
    import urllib.request

    with urllib.request.urlopen(tb.url + "/data/plugin/tb_attention/static/views/matrix_view.js") as r:
        served = r.read()
    with open(os.path.join(checkout, "frontend", "views", "matrix_view.js"), "rb") as f:
        return served == f.read()
