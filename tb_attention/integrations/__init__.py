"""Training integrations: `probe_inputs` names the user's probes and tokenises them for a model,
`probe_pass` runs them through the model without changing training, `probe_logger` logs them on a
schedule (and holds what every callback shares), `trainer` is the Hugging Face `Trainer`
callback, `lightning_callback` the Lightning one."""
