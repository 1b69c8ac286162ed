// Head labels from pattern scores, computed client-side with the thresholds of docs/patterns.md
// (the same table as tb_attention.patterns.DEFAULT_THRESHOLDS): a head gets a label when its
// metric is above the threshold; the first label in this order is the head's main label.

export const THRESHOLDS = [
  ["previous_token", "previous_token", 0.5],
  ["next_token", "next_token", 0.5],
  ["self", "self", 0.5],
  ["cls", "cls", 0.6],
  ["sep", "sep", 0.6],
  ["delimiter", "delimiter", 0.6],
  ["punctuation", "punctuation", 0.6],
  ["broad", "entropy", 3.8],
];
export const MIXED = "mixed";
export const LABELS = [...THRESHOLDS.map(([label]) => label), MIXED];

export const METRICS = [
  "previous_token", "next_token", "self", "same_token", "same_token_other_sentence", "word_pieces",
  "delimiter", "cls", "sep", "punctuation", "entropy", "confidence",
];

/** Every label of head (l, h) in priority order; ["mixed"] when none applies. */
export function headLabels(scores, l, h) {
  const labels = [];
  for (const [label, metric, threshold] of THRESHOLDS) {
    const values = scores[metric];
    const v = values && values[l] ? values[l][h] : null;
    if (typeof v === "number" && v > threshold) labels.push(label);
  }
  return labels.length ? labels : [MIXED];
}
