"""The tokens and padding of the forward pass a capture watches, per attention kind: read from
the model's inputs (a forward pre-hook sees `input_ids`, `attention_mask` and their decoder
counterparts) or given by the caller."""

# kind -> (model input holding its query positions, its key positions)
_SIDES = {
    "self": ("input_ids", "input_ids"),
    "encoder": ("input_ids", "input_ids"),
    "decoder": ("decoder_input_ids", "decoder_input_ids"),
    "cross": ("decoder_input_ids", "input_ids"),
}
_MASKS = {"input_ids": "attention_mask", "decoder_input_ids": "decoder_attention_mask"}


class ForwardTokens:
    """Tokens per side ("input_ids" / "decoder_input_ids"): given, or the tokenizer's text of the
    ids the model was called with (batch row `example`)."""

    def __init__(self, tokenizer=None, tokens=None, decoder_tokens=None, sentence_b_start=None, example=0):
        self.tokenizer, self.example = tokenizer, example
        self.given = {"input_ids": tokens, "decoder_input_ids": decoder_tokens}
        self.sentence_b_start = sentence_b_start
        self.seen = {}  # model input name -> that row (list), as the forward got it

    def hook(self, module, args, kwargs):
        """A forward pre-hook (with kwargs): note the ids and masks of the example."""
        names = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask")
        values = dict(zip(names, args))
        values.update({n: kwargs[n] for n in names if kwargs.get(n) is not None})
        for name, value in values.items():
            if value is not None and hasattr(value, "shape") and len(value.shape) == 2:
                self.seen[name] = value[self.example].tolist()

    def query_mask(self, kind):
        return self.seen.get(_MASKS[_SIDES[kind][0]])

    def key_mask(self, kind):
        return self.seen.get(_MASKS[_SIDES[kind][1]])

    def _side(self, name, length, kept):
        given = self.given.get(name)
        start, end = kept
        if given is not None:
            given = list(given)
            if len(given) == length:
                return given[start:end]
            if len(given) == end - start:
                return given
            raise ValueError("%d tokens given for %s but the model saw %d positions" % (len(given), name, length))
        ids = self.seen.get(name)
        if ids is None or self.tokenizer is None:
            raise ValueError(
                "tb_attention.capture needs the tokens: pass tokenizer= (the ids the model reads are "
                "converted) or tokens= / decoder_tokens="
            )
        return list(self.tokenizer.convert_ids_to_tokens(ids[start:end]))

    def tokens(self, kind, rows, cols):
        """(query tokens, key tokens or None for self-attention, sentence B start) of a kind's
        kept rows [rows) and columns [cols)."""
        query_side, key_side = _SIDES[kind]
        query_length = len(self.seen.get(query_side, [])) or rows[1]
        tokens = self._side(query_side, query_length, rows)
        key_tokens = None
        if kind == "cross":
            key_tokens = self._side(key_side, len(self.seen.get(key_side, [])) or cols[1], cols)
        sentence_b = self.sentence_b_start if kind in ("self", "encoder") else None
        if sentence_b is not None:
            sentence_b -= rows[0]
        return tokens, key_tokens, sentence_b
