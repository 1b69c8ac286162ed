// Hovering a token of the head view: only its lines on the overlay canvas (a query's lines to
// every key, or every line into a key), its weights beside the other column's tokens, and a
// read-out of its strongest ones, and of a query how much of its stored weight the first key
// (the sink) and the sliding window took (head_shares.js). A HoverReadout owns what is hovered
// and the rows it labelled; it reads the render's HeadSelection, ColumnLayout and HeadLines.

import { tokenLabel } from "../dom.js";
import { positionText } from "../words.js";
import { windowText } from "../structure.js";

const IDLE_TEXT = "Hover a token to see only its lines and weights.";
export const LABELLED_WEIGHT = 0.005; // weights below this get no label beside their token

/** The read-out of a row's shares ({sink, window}) of the window `readout` ({size, own}). */
function sharesText(shares, readout, sparse) {
  let text = ` \u00b7 of the stored row, key 0 (the sink) took ${shares.sink.toFixed(3)}`;
  if (shares.window != null) {
    const where = readout.own
      ? `its ${windowText(readout.size)}`
      : `the last ${readout.size} keys (the model's window)`;
    text += `, ${where} ${shares.window.toFixed(3)}`;
  }
  return sparse ? `${text} (of the weight it kept)` : text;
}

export class HoverReadout {
  /** root: the view's element (data-hover, data-hover-lines); details: the read-out's element. */
  constructor(root, details, threshold) {
    Object.assign(this, { root, details, threshold });
    this.details.textContent = IDLE_TEXT;
    this.hovered = null; // {side: "left" | "right", index}
    this.labelled = []; // the columns (head_tokens.js) whose rows show a weight or the hover
    this.shown = null;
    this.columns = null;
    this.lines = null;
  }

  /** The render's selection, columns and lines; any hover ends. */
  update(shown, columns, lines) {
    this.clear();
    Object.assign(this, { shown, columns, lines });
  }

  /** Show only the lines of one token (left: its queries' lines; right: the lines into it). */
  hover(side, index) {
    const start = performance.now();
    this.clearLabels();
    const left = side === "left";
    const { window, ranges } = this.shown;
    const tokens = left ? this.shown.queryTokens : this.shown.keyTokens;
    if (left && (index < window[0] || index >= window[1])) {
      this.clear();
      this.details.textContent =
        `\u201c${tokenLabel(tokens[index])}\u201d (${index}) is outside the query window: ` +
        "click it to move the window there.";
      return;
    }
    this.hovered = { side, index };
    const c = this.columns;
    c.overlay.clear();
    const qRange = left ? [index, index + 1] : window;
    const kRange = left ? ranges.k : [index, index + 1];
    const { count, groups } = this.lines.collect(qRange, kRange, this.threshold, c);
    c.overlay.stroke(groups, { threshold: this.threshold, dense: false });
    c.stage.classList.add("hovering");
    c.drawKeymap();
    (left ? c.left : c.right).mark("active", [index]);
    this.details.textContent = this.describe(side, index, this.labelWeights(side, index));
    this.root.dataset.hover = `${side}:${index}`;
    this.root.dataset.hoverLines = String(count);
    performance.measure("tb-attention:hover", { start, end: performance.now() });
  }

  /** The read-out of a hovered token and its strongest weights `top` ([[weight, j]]). */
  describe(side, index, top) {
    const left = side === "left";
    const s = this.shown;
    const tokens = left ? s.queryTokens : s.keyTokens;
    const otherTokens = left ? s.keyTokens : s.queryTokens;
    const heads = s.heads.length === 1 ? `head ${s.heads[0]}` : `mean of ${s.heads.length} heads`;
    const verb = left ? "attends to" : "is attended by";
    const item = (left ? s.qItems : s.kItems)[index];
    // Past a screen of rows the strongest keys say where they are: most are scrolled away.
    const otherItems = left ? s.kItems : s.qItems;
    const at = (j) => (this.columns.framed ? ` (${positionText(otherItems[j])})` : "");
    const strongest = top
      .slice(0, 6)
      .map(([w, j]) => `${tokenLabel(otherTokens[j])}${at(j)} ${w.toFixed(3)}`)
      .join(" \u00b7 ");
    let text = `\u201c${tokenLabel(tokens[index])}\u201d (${item ? positionText(item) : index}) ${verb} (${heads}): `;
    text += strongest;
    const kept = this.lines.kept;
    if (left && kept) text += ` \u00b7 the stored row kept ${kept[index].toFixed(3)} of its weight (sparse record)`;
    if (s.hidden.length) text += " \u00b7 renormalised without the hidden keys";
    const shares = left && item ? this.lines.sharesOf(item) : null;
    this.root.dataset.hoverSink = shares ? String(shares.sink) : "";
    this.root.dataset.hoverWindow = shares && shares.window != null ? String(shares.window) : "";
    if (shares) text += sharesText(shares, this.lines.readout, Boolean(kept));
    return text;
  }

  /** Weights on the other column (mean over the shown heads) beside its tokens: [[weight, j]], largest first. */
  labelWeights(side, index) {
    const left = side === "left";
    const range = left ? this.shown.ranges.k : this.shown.window;
    const top = this.lines.meanWeights(left, index, range, LABELLED_WEIGHT);
    const other = left ? this.columns.right : this.columns.left;
    other.label(top.map(([mean, j]) => [j, mean.toFixed(2)]));
    other.mark(
      "weighted",
      top.map(([, j]) => j),
    );
    this.labelled = [other, left ? this.columns.left : this.columns.right];
    return top;
  }

  clearLabels() {
    for (const column of this.labelled) {
      column.label([]);
      column.mark("weighted", []);
      column.mark("active", []);
    }
    this.labelled = [];
  }

  /** End the hover: every line again, no labels. */
  clear() {
    if (!this.hovered) return;
    this.hovered = null;
    this.clearLabels();
    this.columns.overlay.clear();
    this.columns.drawKeymap();
    this.columns.stage.classList.remove("hovering");
    delete this.root.dataset.hover;
    delete this.root.dataset.hoverLines;
    delete this.root.dataset.hoverSink;
    delete this.root.dataset.hoverWindow;
    this.details.textContent = IDLE_TEXT;
  }
}
