"""Running a script under `torch.distributed.run` (CPU processes, gloo) from a test: offline, one
torch thread per process, this checkout on the path; the run must succeed."""

import os
import subprocess
import sys

from tests.helpers.tb_process import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def torchrun(script, args, cwd, nproc=2, timeout=400):
    """Run `script` with `args` in `nproc` processes; asserts it succeeded, returns the result."""
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONPATH=ROOT,
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--nnodes", "1"]
    command += ["--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(script)]
    result = subprocess.run(
        command + [str(a) for a in args], cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result
