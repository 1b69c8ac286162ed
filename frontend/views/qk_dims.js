// The Query/Key view's pure parts: the /qk answer's arrays decoded, which dimensions are shown in
// which order (the server ranks them: by contribution, or by change against another step), and
// the text that says how the vectors were made. Nothing here computes a score: the server does.

/** Float32Array of base64 little-endian float32 (the /qk answer's keys and terms). */
export function floats(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer, 0, bytes.length / 4);
}

export const ORDERS = [
  ["contribution", "by contribution"],
  ["model", "model order"],
  ["change", "by change"],
];
export const SHOWN = [
  ["all", "all dimensions"],
  ["16", "top 16"],
  ["32", "top 32"],
  ["64", "top 64"],
];

/**
 * The dimensions to draw, in order: the server's ranking by |contribution| (`order`), by change
 * (`changed`, when comparing), or the model's order; `shown` keeps the first n of the ranking
 * ("all": every one), drawn in model order when `order` is "model".
 */
export function shownDims(answer, order, shown) {
  const d = answer.head_dim;
  const ranked = order === "change" && answer.changed ? answer.changed : answer.a.order;
  const count = shown === "all" ? d : Math.min(d, Number(shown) || d);
  const kept = ranked.slice(0, count);
  if (order === "model") return kept.sort((x, y) => x - y);
  return kept;
}

/** Values of rows x d picked at `dims` (columns): Float32Array rows x dims.length. */
export function pickColumns(values, rows, d, dims) {
  const out = new Float32Array(rows * dims.length);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < dims.length; i++) out[r * dims.length + i] = values[r * d + dims[i]];
  return out;
}

/** The largest |value| (at least `floor`): one side of a diverging colour scale. */
export function extent(values, floor = 1e-9) {
  let hi = floor;
  for (const v of values) if (Number.isFinite(v) && Math.abs(v) > hi) hi = Math.abs(v);
  return hi;
}

/** What the record says of the vectors: rotary embedding, the mask, scaling and what is not stored. */
export function vectorNotes(answer) {
  const notes = [];
  if (answer.rotary === true)
    notes.push(
      "Queries and keys after rotary position embedding (RoPE): positions are rotated into them, " +
        "so q\u00b7k depends on where both tokens are.",
    );
  else if (answer.rotary === false) notes.push("No rotary embedding: positions entered through the token vectors.");
  const mask = answer.causal
    ? `causal${answer.window ? `, sliding window of ${answer.window}` : ""}`
    : "no mask (every key is seen)";
  const cap = answer.softcap ? `, soft-capped at ${answer.softcap}` : "";
  notes.push(`score = q\u00b7k \u00d7 ${answer.scaling.toPrecision(4)}${cap}; ${mask}.`);
  if (answer.unstored && answer.unstored.length)
    notes.push(
      `The model adds ${answer.unstored.join(", ")} to its scores, which the record does not keep: ` +
        "the softmax shown differs from the attention.",
    );
  return notes;
}

/** The default query: the last token in a causal layer (it sees every key), else the first. */
export function defaultQuery(n, causal) {
  return causal ? n - 1 : 0;
}
