// What the head view shows, pure (tests/js/head_window.test.js): the HeadSelection a render
// makes of the selection state (tokens as pieces or words, the sentence ranges of a filter, the
// query window of rows whose lines are drawn, the heads, hidden keys and lines per query), and
// the window and token-search arithmetic the navigation uses (head_nav.js).

import { displayItems, groupOf, keySequence, querySequence } from "../words.js";
import { WHOLE_LAYER_VALUES } from "./layer_data.js";

export const WHOLE_INPUT_ROWS = 512; // up to this many query rows every line is drawn, as in bertviz
export const DEFAULT_WINDOW_ROWS = 128;
export const WINDOW_CHOICES = [32, 64, 128, 256, 512];

/** Rows of the window by default: the whole input when short, else DEFAULT_WINDOW_ROWS. */
export function defaultWindowRows(total) {
  return total <= WHOLE_INPUT_ROWS ? total : DEFAULT_WINDOW_ROWS;
}

/** The window [start, end) of `rows` rows from `start`, within 0..total. */
export function windowRange(total, start, rows) {
  const n = Math.max(1, Math.min(total, Math.round(rows) || total));
  const s = Math.max(0, Math.min(total - n, Math.round(start) || 0));
  return [s, s + n];
}

/** The window of `rows` rows centred on row `centre`. */
export function centredWindow(total, centre, rows) {
  return windowRange(total, centre - Math.floor(rows / 2), rows);
}

/**
 * Where the window goes when the user scrolled: unchanged while the rows on screen [top, bottom)
 * stay inside it, else centred on them.
 */
export function followScroll(total, range, top, bottom) {
  const [s, e] = range;
  if (top >= s && bottom <= e) return range;
  return centredWindow(total, Math.floor((top + bottom) / 2), e - s);
}

/**
 * Indices of the items whose text matches `query`: "#123" (or "123" when no text matches) is
 * that position; otherwise a case-insensitive substring of the text, exact matches first.
 */
export function findTokens(texts, query) {
  const q = query.trim();
  if (!q) return [];
  const position = /^#?(\d{1,9})$/.exec(q);
  const needle = q.toLowerCase();
  const exact = [];
  const partial = [];
  texts.forEach((t, i) => {
    const text = t.trim().toLowerCase();
    if (text === needle) exact.push(i);
    else if (text.includes(needle)) partial.push(i);
  });
  if (position && (q.startsWith("#") || (!exact.length && !partial.length))) {
    const i = Number(position[1]);
    return i < texts.length ? [i] : [];
  }
  return exact.concat(partial);
}

/** The next match after `current` (wrapping), or before it when `step` is -1. */
export function nextMatch(matches, current, step = 1) {
  if (!matches.length) return -1;
  if (current < 0) return step > 0 ? 0 : matches.length - 1;
  return (current + step + matches.length) % matches.length;
}

/** Row ranges [start, end) of the shown queries and keys for a sentence filter. */
export function filterRanges(filter, queries, keys, sentenceB) {
  if (sentenceB == null || filter === "all" || queries !== keys) {
    return { q: [0, queries], k: [0, keys] };
  }
  const a = [0, sentenceB];
  const b = [sentenceB, queries];
  const pick = { aa: [a, a], bb: [b, b], ab: [a, b], ba: [b, a] }[filter] || [
    [0, queries],
    [0, keys],
  ];
  return { q: pick[0], k: pick[1] };
}

/** The display row where sentence B starts (null when it has none or it starts inside a word). */
function sentenceBRow(meta, qItems) {
  const sb = Array.isArray(meta.key_tokens) ? null : meta.sentence_b_start;
  const n = meta.tokens.length;
  if (!(Number.isInteger(sb) && sb > 0 && sb < n)) return null;
  const g = groupOf(qItems, n)[sb];
  return qItems[g].start === sb ? g : null;
}

/** How many query rows of `heads` heads x `keys` keys are fetched at most at once. */
export function windowLimit(heads, keys) {
  return Math.max(1, Math.floor((2 * WHOLE_LAYER_VALUES) / (Math.max(1, heads) * keys)));
}

/**
 * What a render of the head view shows (state.js fields, the part `meta`, the shown `heads`): a
 * HeadSelection {merge, qSeq, kSeq, qItems, kItems, queryTokens, keyTokens (item texts),
 * sentenceB (display row or null), ranges {q, k} (display rows), total (rows in range), limit
 * (most rows at once), rows (of the window), window [w0, w1), heads, hidden (key positions),
 * topk}. Rows are display rows: tokens, or words when `merge`.
 */
export function headSelection(state, meta, heads) {
  const merge = state.words === "1";
  const qSeq = querySequence(meta);
  const kSeq = keySequence(meta);
  const qItems = displayItems(qSeq, merge);
  const kItems = displayItems(kSeq, merge);
  const sentenceB = sentenceBRow(meta, qItems);
  const ranges = filterRanges(state.filter, qItems.length, kItems.length, sentenceB);
  const total = ranges.q[1] - ranges.q[0];
  const K = meta.shape[3];
  // At most 2 x WHOLE_LAYER_VALUES weights of the shown heads' rows are fetched at once.
  const limit = windowLimit(heads.length, K);
  const rows = Math.min(state.qrows || defaultWindowRows(total), total, Math.max(limit, Math.min(total, 32)));
  const start = (state.qstart != null ? state.qstart : ranges.q[0]) - ranges.q[0];
  const window = windowRange(total, start, rows).map((i) => i + ranges.q[0]);
  return {
    merge,
    qSeq,
    kSeq,
    qItems,
    kItems,
    queryTokens: qItems.map((i) => i.text),
    keyTokens: kItems.map((i) => i.text),
    sentenceB,
    ranges,
    total,
    limit,
    rows,
    window,
    heads,
    hidden: (state.hide || []).filter((p) => p < K),
    topk: state.topk || 0,
  };
}
