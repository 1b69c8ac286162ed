"""Training integrations: `probes` turns the user's probe texts into tokenised inputs,
`probe_pass` runs them through the model without changing training, `trainer` is the Hugging Face
`Trainer` callback."""
