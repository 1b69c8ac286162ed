"""Plugin name, format version and the plugin-data content stored with every attention summary."""

import json

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "tb_attention"

# Version of the storage format described in docs/format.md. Readers accept
# every version up to this one and refuse newer ones with a clear message.
FORMAT_VERSION = 3

# TensorBoard steps are int64 and never negative.
MAX_STEP = 2**63 - 1


def check_version(version, what):
    """Raise ValueError unless `version` is a format version this tb-attention reads."""
    if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            "%s of format version %r; this tb-attention reads up to %d: upgrade it" % (what, version, FORMAT_VERSION)
        )
    return version


def create_summary_metadata():
    """SummaryMetadata of an attention blob sequence (TensorBoard keeps the first one per tag)."""
    content = json.dumps({"version": FORMAT_VERSION}).encode("utf-8")
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=content),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )


def parse_plugin_metadata(content):
    """Parse `PluginData.content`; raise ValueError on a newer or unreadable version."""
    if not content:
        return {"version": 0}
    try:
        parsed = json.loads(content.decode("utf-8") if isinstance(content, bytes) else content)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError("unreadable tb_attention plugin metadata: %s" % e) from None
    check_version(parsed.get("version") if isinstance(parsed, dict) else None, "tb_attention data")
    return parsed
