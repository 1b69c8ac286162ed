"""Plugin name, format version and the plugin-data content stored with every attention summary."""

import json

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "tb_attention"

# Version of the storage format described in docs/format.md. Readers accept
# every version up to this one and refuse newer ones with a clear message.
FORMAT_VERSION = 4
# What a tag's metadata says (TensorBoard keeps a tag's first metadata only): the highest version
# its records may have. Attention records are of format 2 or 3, so their tags stay readable by
# tb-attention since format 3; head-importance records (format 4) are a record kind of their own,
# which readers before format 4 hide, as they hide every tag of a newer version.
ATTENTION_TAG_VERSION = 3
RECORD_KINDS = ("attention", "importance")
_TAG_VERSIONS = {"attention": ATTENTION_TAG_VERSION, "importance": 4}

# TensorBoard steps are int64 and never negative.
MAX_STEP = 2**63 - 1


def check_version(version, what, highest=FORMAT_VERSION):
    """Raise ValueError unless `version` is a format version this tb-attention reads (up to
    `highest`: an attention record is of format 3 at most)."""
    if isinstance(version, bool) or not isinstance(version, int) or version > highest:
        raise ValueError(
            "%s of format version %r; this tb-attention reads up to %d: upgrade it" % (what, version, highest)
        )
    return version


def create_summary_metadata(record="attention"):
    """SummaryMetadata of a blob sequence of `record` kind (TensorBoard keeps the first one per
    tag): `{"version": 3}` for attention, `{"version": 4, "record": "importance"}`."""
    fields = {"version": _TAG_VERSIONS[record]}
    if record != "attention":
        fields["record"] = record
    content = json.dumps(fields).encode("utf-8")
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
    if parsed.get("record", "attention") not in RECORD_KINDS:
        raise ValueError("tb_attention data of an unknown record kind %r" % (parsed.get("record"),))
    return parsed


def record_kind(parsed):
    """The record kind of a tag's parsed metadata: "attention" (also for every tag written
    before format 4) or "importance"."""
    return parsed.get("record", "attention") if isinstance(parsed, dict) else "attention"
