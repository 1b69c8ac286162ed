"""Logging attention from a training loop: `inputs` validates what users pass, `writer` is
`add_attention`, `background` the writer thread that fills the plugin's own `event_file` and
its `payload_file`s, `failures` what it reports when a write fails."""
