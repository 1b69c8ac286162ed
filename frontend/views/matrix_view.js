// Matrix view: one head, or the mean of the selected heads, as a heat map made for long inputs:
// zoom and pan with an overview minimap (zoom_map.js), token labels once they fit, a colour
// scale (linear, square root, log) with its legend, words instead of word pieces, and hidden
// keys (the first token's "attention sink", or any the user shift-clicks) with each row
// renormalised over the others, as the note above the map says. Hovering reads out query, key
// and weight, and for sparse records the weight the stored row kept.

import { el } from "../dom.js";
import { sequentialScale } from "../colors.js";
import { SCALES, defaultScale, logFloor, makeScale } from "../scales.js";
import { displayItems, displaySlab, keySequence, mergeRows, querySequence } from "../words.js";
import { composeCanvas, composeSVG } from "./heatmap.js";
import { keptOf, meanOf } from "./layer_data.js";
import { legend } from "./legend.js";
import { MAP_HINT, cellText, hiddenNote, mapControls, toggledHidden, zoomSummary } from "./map_controls.js";
import { ZoomMap } from "./zoom_map.js";
import { View } from "./view.js";
// Imported further down the graph; named here so the browser fetches them with this module.
import "./zoom_levels.js";
import "./zoom_input.js";
import "./axis_labels.js";
import "../pyramid.js";

const SIDE_PX = 180; // the legend and minimap column

export class MatrixView extends View {
  constructor(host) {
    super(host, "matrix-view");
    this.bar = el("div", { class: "matrix-bar" });
    this.note = el("div", { class: "message matrix-note", hidden: true });
    this.zoomText = el("span", { class: "bar-label zoom-text", "aria-live": "polite" });
    this.root.append(this.bar, this.note);
    // The view's state (set by render): the map (made once, so the zoom survives re-renders), the
    // render's context, what it shows (words.js displaySlab), the hidden keys and the kept weight.
    this.map = null;
    this.ctx = null;
    this.display = null;
    this.hidden = [];
    this.kept = null; // per display row (sparse records), else null
  }

  destroy() {
    if (this.map) this.map.destroy();
    super.destroy();
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const [, H, Q, K] = meta.shape;
    const heads = ctx.selectedHeads(H);
    const source = { layer: ctx.layer, selection: ctx.selection };
    const [values, kept] = await Promise.all([
      meanOf(source, meta, state.step, state.layer, heads),
      keptOf(source, meta, state.step, state.layer, heads),
    ]);
    if (!ctx.current()) return;
    this.ctx = ctx;
    const rowSeq = querySequence(meta);
    const colSeq = keySequence(meta);
    const merge = state.words === "1";
    this.hidden = (state.hide || []).filter((p) => p < K);
    this.display = displaySlab({ data: values, rows: Q, cols: K, rowSeq, colSeq, merge, hidden: this.hidden });
    this.kept = kept && (merge ? mergeRows(kept, displayItems(rowSeq, true)) : kept);
    const kind = SCALES.includes(state.scale) ? state.scale : defaultScale(K);
    const scale = makeScale(kind, 0, 1, kind === "log" ? logFloor(this.display.data) : 1e-4);
    const table = sequentialScale(ctx.theme);
    const what = heads.length === 1 ? `head ${heads[0]}` : `mean of ${heads.length} heads`;
    const title = `Layer ${state.layer}, ${what}, step ${state.step}`;
    this.drawMap(title, scale, table, ctx.theme);
    this.renderBar(ctx, kind, merge);
    this.renderNote(colSeq.tokens);
    Object.assign(this.root.dataset, {
      heads: heads.join(","),
      layer: String(state.layer),
      scale: kind,
      words: merge ? "1" : "0",
      hidden: this.hidden.join(","),
      rows: String(this.display.rows),
      cols: String(this.display.cols),
    });
    performance.mark("tb-attention:matrix-view-drawn");
  }

  drawMap(title, scale, table, theme) {
    const d = this.display;
    if (!this.map) {
      this.map = new ZoomMap({
        title,
        readout: (r, c, value) => this.readout(r, c, value),
        onPick: (r, c) => this.toggleHidden(c),
        onView: () => this.showZoom(),
      });
    }
    this.map.opts.title = title;
    this.map.caption.textContent = title;
    this.map.setData({
      values: d.data,
      rows: d.rows,
      cols: d.cols,
      rowLabels: d.rowItems.map((i) => i.text),
      colLabels: d.colItems.map((i) => i.text),
      mask: this.hidden.length ? d.hiddenCols : null,
      table,
      scale,
      maskRGB: theme === "dark" ? [78, 78, 78] : [214, 214, 214],
    });
    this.map.side.replaceChildren(legend(scale, table), this.map.mini);
    if (this.map.element.parentNode !== this.root) this.root.append(this.map.element);
    const maxWidth = Math.max(240, this.host.clientWidth - 24 - SIDE_PX);
    const maxHeight = Math.max(300, (window.innerHeight || 900) - 230);
    this.map.layout(maxWidth, maxHeight);
    this.map.draw();
    this.map.levels.fillIn();
    this.showZoom();
  }

  renderBar(ctx, kind, merge) {
    this.bar.replaceChildren(
      ...mapControls(ctx, { kind, merge, hidden: this.hidden, reset: () => this.map.reset() }),
      this.zoomText,
      el("span", { class: "bar-label hint" }, MAP_HINT),
    );
  }

  renderNote(colTokens) {
    this.note.hidden = !this.hidden.length;
    if (this.hidden.length) this.note.textContent = hiddenNote(this.hidden, colTokens, this.display.hiddenMass);
  }

  toggleHidden(c) {
    this.ctx.setState({ hide: toggledHidden(this.hidden, this.display.colItems[c]) });
  }

  readout(r, c, value) {
    const d = this.display;
    const ri = d.rowItems[r];
    const ci = d.colItems[c];
    let text = `${cellText(ri, ci)}: ${value.toFixed(4)}`;
    if (d.hiddenCols[c]) text += " (hidden key)";
    else if (d.hiddenMass) text += ` (renormalised: ${d.hiddenMass[r].toFixed(3)} of the row was on hidden keys)`;
    if (this.kept) {
      const rule =
        this.ctx.meta.sparse && this.ctx.meta.sparse.top_k
          ? `the ${this.ctx.meta.sparse.top_k} strongest keys`
          : "its strongest keys";
      text += ` \u00b7 stored row kept ${this.kept[r].toFixed(3)} of its weight (sparse record: ${rule})`;
    }
    return text;
  }

  showZoom() {
    if (this.map && this.map.view) this.zoomText.textContent = zoomSummary(this.map);
  }

  toCanvas() {
    return composeCanvas([this.map]);
  }

  toSVG() {
    return composeSVG([this.map]);
  }
}
