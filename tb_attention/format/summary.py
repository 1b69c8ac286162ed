"""Summary protobufs for attention records (blob sequences), as TensorBoard's plugins build them."""

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from tb_attention.format import metadata


def blob_sequence_tensor(blobs):
    """A rank-1 DT_STRING tensor: the only form both TensorBoard loaders keep as a blob sequence."""
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(blobs))]),
        string_val=list(blobs),
    )


def attention_pb(tag, blobs, record="attention"):
    """A `Summary` holding one record under `tag`: its blobs (an attention record's header,
    format 1 also its layers; an importance record's JSON)."""
    value = summary_pb2.Summary.Value(
        tag=tag, metadata=metadata.create_summary_metadata(record), tensor=blob_sequence_tensor(blobs)
    )
    return summary_pb2.Summary(value=[value])


def scalar_values(scalars):
    """`Summary.Value`s for `{tag: float}`, shown in TensorBoard's Scalars tab."""
    return [summary_pb2.Summary.Value(tag=tag, simple_value=float(value)) for tag, value in scalars.items()]


def attention_event(tag, blobs, step, wall_time, scalars=None):
    summary = attention_pb(tag, blobs)
    if scalars:
        summary.value.extend(scalar_values(scalars))
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary)


def importance_event(tag, blob, step, wall_time):
    """The event of one head-importance record (format 4): a one-blob sequence."""
    return event_pb2.Event(wall_time=wall_time, step=step, summary=attention_pb(tag, [blob], "importance"))
