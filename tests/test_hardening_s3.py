"""Remote logdirs: a logdir written by the real writer, synced to an S3-compatible object store
(a moto server on 127.0.0.1), served by `tensorboard --logdir s3://...` through TensorBoard's own
S3 support, and read back by `read_attention("s3://...")`. docs/cloud.md describes the setup."""

import json
import os
import subprocess
import sys

import boto3
import moto.server as moto_server
import numpy as np
import pytest

from tests.helpers.data import UINT8_BOUND, attention, tokens_for
from tests.helpers.http import BASE, q, served_layer, served_steps
from tests.helpers.tb_process import TensorBoardProcess, free_port

BUCKET, PREFIX = "training-logs", "exp1"
TAG = "probe/store"


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 and a free port, its bucket, and the env TensorBoard needs."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = "http://127.0.0.1:%d" % port
    env = {
        # What TensorBoard's S3 filesystem (tensorboard/compat/tensorflow_stub/io/gfile.py) reads.
        "S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client, env
    finally:
        server.stop()


def sync(client, logdir):
    """Upload every file under logdir to s3://BUCKET/PREFIX/ (what `aws s3 sync` does)."""
    for dirpath, _, names in os.walk(str(logdir)):
        for name in names:
            path = os.path.join(dirpath, name)
            key = PREFIX + "/" + os.path.relpath(path, str(logdir)).replace(os.sep, "/")
            client.upload_file(path, BUCKET, key)


@pytest.mark.slow
def test_tensorboard_serves_a_logdir_on_s3(s3, tmp_path):
    client, env = s3
    from torch.utils.tensorboard import SummaryWriter

    import tb_attention

    logdir = tmp_path / "logs"
    writer = SummaryWriter(str(logdir / "finetune"))

    def train(steps):
        for step in steps:
            writer.add_scalar("loss", 1.0 / (step + 1), step)
            tb_attention.add_attention(writer, TAG, attention(step, 3, 4, 9), tokens_for(9), step)
        writer.flush()  # reaches the attention writer too
        return {step: attention(step, 3, 4, 9) for step in steps}

    logged = train(range(5))
    sync(client, logdir)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]
    assert any("tb_attention" in o["Key"] for o in listed)

    tb = TensorBoardProcess("s3://%s/%s" % (BUCKET, PREFIX), load_fast="false", env=env).start()
    try:
        tb.wait_for(lambda: served_steps(tb, "finetune", TAG) == list(range(5)), timeout=90)
        tags = tb.get_json(BASE + "/tags")["runs"]
        assert list(tags) == ["finetune"] and tags["finetune"][TAG]["max_step"] == 4
        for step in (0, 4):
            for layer in range(3):
                got = served_layer(tb, "finetune", TAG, step, layer)
                assert np.abs(got - logged[step][layer]).max() <= UINT8_BOUND
        # The user's scalars, in the other event file of the run, load next to ours.
        scalars_url = "/data/plugin/scalars/scalars?" + q(run="finetune", tag="loss")
        tb.wait_for(lambda: [s[1] for s in tb.get_json(scalars_url)] == list(range(5)), timeout=60)

        # Training goes on locally; the next sync brings the new steps to the running TensorBoard.
        more = train(range(5, 8))
        sync(client, logdir)
        tb.wait_for(lambda: served_steps(tb, "finetune", TAG) == list(range(8)), timeout=90)
        assert np.abs(served_layer(tb, "finetune", TAG, 7, 2) - more[7][2]).max() <= UINT8_BOUND
    finally:
        tb.stop()
        writer.close()

    # read_attention reads the same URL in Python (a fresh process: the S3 endpoint is read at import).
    script = (
        "import json, sys, tb_attention\n"
        "print(json.dumps([[r.run, r.tag, r.step, r.attention.tolist()] for r in "
        "tb_attention.read_attention(sys.argv[1], step=6)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, "s3://%s/%s" % (BUCKET, PREFIX)],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    ((run, tag, step, values),) = json.loads(out.stdout.strip().splitlines()[-1])
    assert (run, tag, step) == ("finetune", TAG, 6)
    assert np.abs(np.array(values, dtype=np.float32) - attention(6, 3, 4, 9)).max() <= UINT8_BOUND
