"""Writing records: `writer` keeps one background event writer per log dir and queues records
(`log_record`); `plan` decides what a record stores and `budget` what fits on disk; `capture` moves
its weights from the caller's thread to the payload; `layer_encoding` encodes blocks of heads;
`record` builds the index event; `stream`, `chunks`, `pooling` and `streamed` build long records
from blocks of rows; `background` is the writer thread that fills the plugin's own `event_file`
and its `payload_file`s, `failures` what it reports when a write fails. `tb_attention/log.py`
composes them with the pattern scores into the public `add_attention`."""
