"""Demos of tb-attention: `python -m demo` (Trainer), `python -m demo.plain_loop` (PyTorch loop),
`python -m demo.model_families` (GPT-2 and BART attention)."""
