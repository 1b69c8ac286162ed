"""Logging attention from a training loop: `inputs` validates what users pass, `writer` is
`add_attention`, `event_file` the background writer of the plugin's own event file."""
