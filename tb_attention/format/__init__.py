"""The record format (docs/format.md): what the writer stores and every reader decodes.

`metadata` names the plugin and owns the format version; `precision` the stored number types;
`codec` a record's header and layer blobs; `scores` the stored head-pattern scores; `summary`
the TensorBoard protobufs that carry a record.
"""
