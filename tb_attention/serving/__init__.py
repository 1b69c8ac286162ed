"""Serving attention in TensorBoard: `plugin` wires the routes into TensorBoard; `requests` is what
each route is asked (one typed request per route, parsed by parameter name); `answers` (listings,
layers, thumbnails; `layer_answers` for /layer) and `analysis_answers` (patterns, change,
rollout, relevance, formed) answer them over storage's `AttentionStore`; `arrays` is a binary
answer, `errors` the 400 error, `http` maps parameters, answers and errors to HTTP, `static`
serves the panel's files."""
