"""The record format (docs/format.md): what the writer stores and every reader decodes.

`metadata` names the plugin and owns the format version; `precision` the stored number types;
`header` a record's header (v1 and v2, normalized to one form); `payload` the v2 payload files;
`blocks` what a payload chunk holds; `layers_v1` the layer blobs of format-1 records; `scores`
the stored head-pattern scores; `summary` the TensorBoard protobufs that carry a record.
"""
