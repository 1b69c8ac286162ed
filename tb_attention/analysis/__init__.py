"""Head analysis (docs/patterns.md): `tokens` classifies token texts, `pairs` relates tokens for
the token-identity metrics, `reductions` runs the per-row passes over attention, `span` measures
how far attention reaches, `row_blocks` sums a block of query rows per head (numpy or torch),
`scoring` turns those sums into per-head pattern scores, `labels` names heads by threshold,
`change` measures how a head changed between two records, `formed` finds the heads that crossed
a threshold during training, `rollout` and `flow` follow attention across layers (Abnar &
Zuidema 2020), `induction_probe` builds the induction probe."""
