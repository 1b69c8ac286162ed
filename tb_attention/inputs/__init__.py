"""What users pass, checked: `attention` reads attention in every accepted form (Hugging Face
`outputs.attentions`, arrays, tensors) as a `PartInput`, one layer at a time; `checks` checks and
parses steps, wall times, tokens, sentence B and softmax rows, each error naming the problem.
Shared by the writer and the analysis functions, so both accept and refuse exactly alike."""
