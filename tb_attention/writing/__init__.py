"""Writing records: `writer` keeps one background event writer per log dir and queues records
(`log_record`); `plan` decides what a record stores; `capture` moves its weights from the caller's
thread to the payload; `layer_encoding` encodes blocks of heads; `record` builds the index event;
`event_file` writes the event and payload files in the background. `tb_attention/log.py` composes
them with the pattern scores into the public `add_attention`."""
