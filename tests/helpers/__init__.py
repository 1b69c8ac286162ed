"""Test helpers, each kind once: `data` (attention arrays and tokens), `http` (routes, payload
decoding, a WSGI client on a real multiplexer), `eventfiles` (real logdirs, TFRecord frames),
`tb_process` (a real TensorBoard), `browser` (headless Chromium on the panel), `panel_logs`
(the panel tests' logdir), `patterns_table` (the seed table of docs/patterns.md)."""
