// Word pieces and words, for display: which tokens form a word, how a token reads without its
// tokenizer's markers, attention between words (to a word: the sum over its pieces; from a word:
// the mean over its pieces, so each row still sums to what it held), and hidden keys with rows
// renormalised without them (displaySlab: what the matrix and head views draw). Pure functions.
//
// Which tokens form a word is the server's rule: /steps gives each part's `word_ids` (and
// `key_word_ids` for cross-attention keys), from tb_attention/analysis/tokens.py, the grouping
// the pattern scores use; a sequence here is {tokens, wordIds} as querySequence / keySequence
// take them from a part. How a token reads on screen stays in this module: the server sends tokens exactly as
// logged (untrusted text) and no server rule shows them, so dropping a word-start marker ("\u2581",
// "\u0120") and writing byte-BPE spaces and newlines as themselves is presentation, decided here
// from the markers the tokens carry.

const CONTINUATION = "##";
const SENTENCEPIECE = "\u2581"; // ▁
const BYTE_BPE = "\u0120"; // Ġ

const isPiece = (t) => t.startsWith(CONTINUATION) && t.length > 2;

/** "wordpiece", "sentencepiece", "bytebpe" or "plain": which marker, if any, a sequence's tokens show. */
export function convention(tokens) {
  if (tokens.some(isPiece)) return "wordpiece";
  if (tokens.some((t) => t.startsWith(BYTE_BPE))) return "bytebpe";
  if (tokens.some((t) => t.startsWith(SENTENCEPIECE))) return "sentencepiece";
  return "plain";
}

/** The query tokens of a part as /steps describes it, with their word ids: {tokens, wordIds}. */
export function querySequence(meta) {
  return { tokens: meta.tokens, wordIds: meta.word_ids };
}

/** The key tokens of a part (its own for cross-attention, else the queries), with their word ids. */
export function keySequence(meta) {
  return Array.isArray(meta.key_tokens) ? { tokens: meta.key_tokens, wordIds: meta.key_word_ids } : querySequence(meta);
}

/** A token as it reads: no word-start marker; byte-BPE spaces, newlines and tabs as themselves. */
export function prettyToken(token, kind) {
  let text = token;
  if (kind === "bytebpe") {
    text = text
      .replace(/^\u0120/, "")
      .replace(/\u0120/g, " ")
      .replace(/\u010a/g, "\n")
      .replace(/\u0109/g, "\t");
    if (text === "" && token !== "") text = " ";
  } else if (kind === "sentencepiece") {
    text = text.replace(/^\u2581/, "").replace(/\u2581/g, " ");
    if (text === "" && token !== "") text = " ";
  }
  return text;
}

const prettyCache = new WeakMap();

/** The tokens of a sequence as they read (cached per array: views call this on every render). */
export function prettyTokens(tokens) {
  let out = prettyCache.get(tokens);
  if (!out) {
    const kind = convention(tokens);
    out = tokens.map((t) => prettyToken(t, kind));
    prettyCache.set(tokens, out);
  }
  return out;
}

/**
 * The words of a sequence {tokens, wordIds}: [{start, end, text}] (token range [start, end), the
 * word as it reads: its pieces joined, markers and "##" dropped). Cached per token array.
 */
const wordCache = new WeakMap();
export function words({ tokens, wordIds: ids }) {
  const cached = wordCache.get(tokens);
  if (cached && cached.ids === ids) return cached.out;
  const kind = convention(tokens);
  const out = [];
  for (let i = 0; i < tokens.length; i++) {
    const piece = prettyToken(tokens[i], kind);
    const last = out[out.length - 1];
    if (last && ids[i] === ids[i - 1]) {
      last.end = i + 1;
      last.text += kind === "wordpiece" && isPiece(tokens[i]) ? tokens[i].slice(CONTINUATION.length) : piece;
    } else {
      out.push({ start: i, end: i + 1, text: piece });
    }
  }
  wordCache.set(tokens, { ids, out });
  return out;
}

/** One item per token: [{start, end, text}] of single tokens (the items of the piece view). */
export function pieces(tokens) {
  return prettyTokens(tokens).map((text, i) => ({ start: i, end: i + 1, text }));
}

/** Group index per member (Int32Array of `n`) of items [{start, end}] covering 0..n-1. */
export function groupOf(items, n) {
  const out = new Int32Array(n);
  items.forEach((g, j) => out.fill(j, g.start, g.end));
  return out;
}

/**
 * Attention between groups: `data` holds `slabs` row-major matrices of `rows` x `cols` (rows
 * `rowItems[r0..r1)` taken from token rows starting at `dataRow0`); returns Float32Array
 * [slabs, r1 - r0, colItems.length]: out[i][j] = mean over the pieces r of row item i of the sum
 * over the pieces c of column item j of data[r][c].
 */
export function mergeGroups(data, slabs, rows, cols, rowItems, colItems, r0 = 0, r1 = rowItems.length, dataRow0 = 0) {
  const colGroup = groupOf(colItems, cols);
  const wc = colItems.length;
  const wr = r1 - r0;
  const out = new Float32Array(slabs * wr * wc);
  for (let s = 0; s < slabs; s++) {
    for (let i = 0; i < wr; i++) {
      const { start, end } = rowItems[r0 + i];
      const o = (s * wr + i) * wc;
      for (let r = start; r < end; r++) {
        const base = (s * rows + (r - dataRow0)) * cols;
        for (let c = 0; c < cols; c++) out[o + colGroup[c]] += data[base + c];
      }
      const n = end - start;
      if (n > 1) for (let j = 0; j < wc; j++) out[o + j] /= n;
    }
  }
  return out;
}

/** Mean per row item of a per-token vector (e.g. the weight each row kept). */
export function mergeRows(values, items) {
  const out = new Float32Array(items.length);
  items.forEach(({ start, end }, j) => {
    let s = 0;
    for (let r = start; r < end; r++) s += values[r];
    out[j] = s / (end - start);
  });
  return out;
}

// -- what a view draws of attention rows: hidden keys (the "attention sink" and any the user
// picks) with rows renormalised without them, then word pieces merged into words. Every function
// returns new arrays; the fetched data stays as it came.

/**
 * Rows without the `hidden` key columns: those become 0 and every row is divided by the weight
 * it has left (1 - its weight on hidden keys; attention rows sum to 1), so what is shown sums
 * to 1 again. A row with nothing left is all 0. `data`: `slabs` row-major matrices of `rows` x
 * `cols`. Returns {data, hiddenMass: Float32Array [slabs * rows]}.
 */
export function hideKeys(data, slabs, rows, cols, hidden) {
  const out = new Float32Array(data.length);
  const hiddenMass = new Float32Array(slabs * rows);
  const cut = [...new Set(hidden)].filter((c) => Number.isInteger(c) && c >= 0 && c < cols);
  for (let r = 0; r < slabs * rows; r++) {
    const base = r * cols;
    let h = 0;
    for (const c of cut) h += data[base + c];
    hiddenMass[r] = h;
    const left = 1 - h;
    if (left <= 1e-6) continue; // nothing left to show in this row
    const f = 1 / left;
    for (let c = 0; c < cols; c++) out[base + c] = data[base + c] * f;
    for (const c of cut) out[base + c] = 0;
  }
  return { data: out, hiddenMass };
}

/** The display items of a sequence {tokens, wordIds}: pieces (one per token) or words. */
export function displayItems(sequence, merge) {
  return merge ? words(sequence) : pieces(sequence.tokens);
}

/** Which display items are hidden: those whose every token is in `hidden` (token positions). */
export function hiddenItems(items, hidden) {
  const set = new Set(hidden);
  const out = new Uint8Array(items.length);
  items.forEach(({ start, end }, j) => {
    let all = true;
    for (let t = start; t < end && all; t++) all = set.has(t);
    out[j] = all ? 1 : 0;
  });
  return out;
}

/**
 * A display matrix of one or more attention slabs (`slabs` x `rows` x `cols`, token rows from
 * `dataRow0`; `rowSeq` / `colSeq` their sequences {tokens, wordIds}): hidden keys dropped and rows
 * renormalised (per token row), then words merged when `merge`. `rowRange` = [first, end) of
 * row *items* wanted. Returns {data, rows, cols, rowItems, colItems, hiddenCols (Uint8Array per
 * column item), hiddenMass (per row item, mean over slabs)}.
 */
export function displaySlab({
  data,
  slabs = 1,
  rows,
  cols,
  rowSeq,
  colSeq,
  merge = false,
  hidden = [],
  rowRange = null,
  dataRow0 = 0,
}) {
  const rowItems = displayItems(rowSeq, merge);
  const colItems = displayItems(colSeq, merge);
  const [i0, i1] = rowRange || [0, rowItems.length];
  let values = data;
  let mass = null;
  if (hidden.length) {
    ({ data: values, hiddenMass: mass } = hideKeys(data, slabs, rows, cols, hidden));
  }
  const identity = !merge && i0 === dataRow0 && i1 - i0 === rows;
  const out = identity ? values : mergeGroups(values, slabs, rows, cols, rowItems, colItems, i0, i1, dataRow0);
  let hiddenMass = null;
  if (mass) {
    hiddenMass = new Float32Array(i1 - i0);
    for (let s = 0; s < slabs; s++) {
      const per = mergeRows(
        mass.subarray(s * rows, (s + 1) * rows),
        rowItems.slice(i0, i1).map((g) => ({ start: g.start - dataRow0, end: g.end - dataRow0 })),
      );
      for (let i = 0; i < per.length; i++) hiddenMass[i] += per[i] / slabs;
    }
  }
  return {
    data: out,
    rows: i1 - i0,
    cols: colItems.length,
    rowItems: rowItems.slice(i0, i1),
    colItems,
    hiddenCols: hiddenItems(colItems, hidden),
    hiddenMass,
  };
}

/** The token rows [start, end) that the row items [i0, i1) cover. */
export function tokenRows(items, i0, i1) {
  if (i1 <= i0) return [0, 0];
  return [items[i0].start, items[i1 - 1].end];
}

/** Text of an item's position for read-outs: "5", or "5\u20136" for a word of pieces 5 and 6. */
export function positionText(item) {
  return item.end - item.start > 1 ? `${item.start}\u2013${item.end - 1}` : String(item.start);
}
