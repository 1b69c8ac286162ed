// The controls of the heat-map views made for long inputs (matrix and compare): colour scale,
// hiding the first token (the "attention sink") or showing the hidden keys again, words instead
// of word pieces, and resetting the zoom. Each writes the URL state; the views read it back.

import { el, select, tokenLabel } from "../dom.js";
import { SCALES, SCALE_LABELS } from "../scales.js";
import { visibleCells } from "../zoom.js";
import { positionText } from "../words.js";

export const MAP_HINT = "wheel or +/\u2212: zoom \u00b7 drag or arrows: pan \u00b7 shift-click: hide a key";

/**
 * Control elements for scale `kind`, word view `merge`, `hidden` key positions; `reset()` resets
 * the zoom; `tiled`: the map is read as tiles (words are merged from single weights only).
 */
export function mapControls(ctx, { kind, merge, hidden, reset, tiled = false }) {
  const sink = hidden.length === 1 && hidden[0] === 0;
  return [
    el(
      "label",
      { class: "field" },
      "Colour",
      select(
        SCALES.map((s) => [s, SCALE_LABELS[s]]),
        kind,
        (v) => ctx.setState({ scale: v }),
        { class: "scale-select", "aria-label": "Colour scale" },
      ),
    ),
    el(
      "button",
      {
        type: "button",
        class: "chip hide-sink",
        "aria-pressed": String(sink),
        title:
          "Hide the first token (the \u201cattention sink\u201d most heads of a decoder dump weight on) " +
          "and renormalise each row over the others",
        onclick: () => ctx.setState({ hide: sink ? null : [0] }),
      },
      "Hide first token",
    ),
    hidden.length && !sink
      ? el(
          "button",
          { type: "button", class: "chip show-hidden", onclick: () => ctx.setState({ hide: null }) },
          `Show ${hidden.length} hidden`,
        )
      : null,
    el(
      "button",
      {
        type: "button",
        class: "chip words-toggle",
        "aria-pressed": String(merge),
        disabled: tiled,
        title: tiled
          ? "Words are merged from single weights: a map this long is read as pooled tiles, so it shows word pieces"
          : "Merge word pieces into words: attention to a word is the sum over its pieces, from a word the mean",
        onclick: () => ctx.setState({ words: merge ? null : "1" }),
      },
      "Words",
    ),
    el("button", { type: "button", class: "chip zoom-reset", onclick: reset }, "Reset zoom"),
  ].filter(Boolean);
}

/** The hidden-keys note: which keys are hidden, their mean weight, and how rows are renormalised. */
export function hiddenNote(hidden, colTokens, hiddenMass) {
  const named = hidden
    .slice(0, 4)
    .map((p) => `${p} \u201c${tokenLabel(colTokens[p])}\u201d`)
    .join(", ");
  const more = hidden.length > 4 ? ` and ${hidden.length - 4} more` : "";
  let meanHidden = 0;
  if (hiddenMass) for (const m of hiddenMass) meanHidden += m / hiddenMass.length;
  return (
    `Hidden key${hidden.length > 1 ? "s" : ""} ${named}${more} (grey; ${(100 * meanHidden).toFixed(1)}% ` +
    "of the weight on average): each row is renormalised over the other keys " +
    "(weight \u00f7 (1 \u2212 the row\u2019s weight on hidden keys))."
  );
}

/**
 * The hidden positions after a click on column item `item` ({start, end}): its pieces toggle
 * together; null when none is left.
 */
export function toggledHidden(hidden, item) {
  const set = new Set(hidden);
  const positions = [];
  for (let p = item.start; p < item.end; p++) positions.push(p);
  const all = positions.every((p) => set.has(p));
  for (const p of positions) all ? set.delete(p) : set.add(p);
  return set.size ? [...set].sort((a, b) => a - b) : null;
}

/** What a zoom map shows, in words: "2048 x 2048, whole matrix" or "4.0x: queries 10-40, keys 3-60". */
export function zoomSummary(map) {
  if (!map.zoomed()) return `${map.data.rows} \u00d7 ${map.data.cols}, whole matrix`;
  const { r0, r1, c0, c1 } = visibleCells(map.view, map.data.rows, map.data.cols, map.plotW, map.plotH);
  const zoom = (map.view.scale / map.fit.scale).toFixed(1);
  return `${zoom}\u00d7: queries ${r0}\u2013${r1 - 1}, keys ${c0}\u2013${c1 - 1}`;
}

/** A cell of a heat map in words, for read-outs: query and key item ({start, end, text}) and their positions. */
export function cellText(rowItem, colItem) {
  const query = `query \u201c${tokenLabel(rowItem.text)}\u201d (${positionText(rowItem)})`;
  return `${query} \u2192 key \u201c${tokenLabel(colItem.text)}\u201d (${positionText(colItem)})`;
}
