// Matrix view: one head, or the mean of the selected heads, as a heat map made for long inputs:
// zoom and pan with an overview minimap (zoom_map.js), token labels once they fit, a colour
// scale (linear, square root, log) with its legend, words instead of word pieces, and hidden
// keys (the first token's "attention sink", or any the user shift-clicks) with each row
// renormalised over the others, as the note above the map says. Hovering reads out query, key
// and weight, and for sparse records the weight the stored row kept.

import { el, select, tokenLabel } from "../dom.js";
import { sequentialScale } from "../colors.js";
import { SCALES, SCALE_LABELS, defaultScale, logFloor, makeScale } from "../scales.js";
import { axisItems, displaySlab, mergeRows, positionText } from "../words.js";
import { visibleCells } from "../zoom.js";
import { composeCanvas, composeSVG } from "./heatmap.js";
import { keptOf, meanOf } from "./layer_data.js";
import { legend } from "./legend.js";
import { ZoomMap } from "./zoom_map.js";
import { View } from "./view.js";
// Imported further down the graph; named here so the browser fetches them with this module.
import "./zoom_levels.js";
import "../pyramid.js";

const SIDE_PX = 180; // the legend and minimap column

export class MatrixView extends View {
  constructor(host) {
    super(host, "matrix-view");
    this.bar = el("div", { class: "matrix-bar" });
    this.note = el("div", { class: "message matrix-note", hidden: true });
    this.zoomText = el("span", { class: "bar-label zoom-text", "aria-live": "polite" });
    this.root.append(this.bar, this.note);
    this.map = null;
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
      meanOf(source, meta, state.step, state.layer, heads), keptOf(source, meta, state.step, state.layer, heads)]);
    if (!ctx.current()) return;
    this.ctx = ctx;
    const rowTokens = meta.tokens;
    const colTokens = meta.key_tokens || meta.tokens;
    const merge = state.words === "1";
    this.hidden = (state.hide || []).filter((p) => p < K);
    this.display = displaySlab({ data: values, rows: Q, cols: K, rowTokens, colTokens, merge, hidden: this.hidden });
    this.kept = kept && (merge ? mergeRows(kept, axisItems(rowTokens, true)) : kept);
    const kind = SCALES.includes(state.scale) ? state.scale : defaultScale(K);
    const scale = makeScale(kind, 0, 1, kind === "log" ? logFloor(this.display.data) : 1e-4);
    const table = sequentialScale(ctx.theme);
    const what = heads.length === 1 ? `head ${heads[0]}` : `mean of ${heads.length} heads`;
    const title = `Layer ${state.layer}, ${what}, step ${state.step}`;
    this.drawMap(title, scale, table, ctx.theme);
    this.renderBar(ctx, kind, merge);
    this.renderNote(colTokens);
    Object.assign(this.root.dataset, {
      heads: heads.join(","), layer: String(state.layer), scale: kind, words: merge ? "1" : "0", hidden: this.hidden.join(","),
      rows: String(this.display.rows), cols: String(this.display.cols),
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
      values: d.data, rows: d.rows, cols: d.cols, rowLabels: d.rowItems.map((i) => i.text), colLabels: d.colItems.map((i) => i.text),
      mask: this.hidden.length ? d.hiddenCols : null, table, scale, maskRGB: theme === "dark" ? [78, 78, 78] : [214, 214, 214],
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
    const sink = this.hidden.length === 1 && this.hidden[0] === 0;
    this.bar.replaceChildren(...[
      el("label", { class: "field" }, "Colour", select(SCALES.map((s) => [s, SCALE_LABELS[s]]), kind,
        (v) => ctx.setState({ scale: v }), { class: "scale-select", "aria-label": "Colour scale" })),
      el("button", {
        type: "button", class: "chip hide-sink", "aria-pressed": String(sink),
        title: "Hide the first token (the \u201cattention sink\u201d most heads of a decoder dump weight on) and renormalise each row over the others",
        onclick: () => ctx.setState({ hide: sink ? null : [0] }),
      }, "Hide first token"),
      this.hidden.length && !sink ? el("button", { type: "button", class: "chip show-hidden", onclick: () => ctx.setState({ hide: null }) },
        `Show ${this.hidden.length} hidden`) : null,
      el("button", {
        type: "button", class: "chip words-toggle", "aria-pressed": String(merge),
        title: "Merge word pieces into words: attention to a word is the sum over its pieces, from a word the mean",
        onclick: () => ctx.setState({ words: merge ? null : "1" }),
      }, "Words"),
      el("button", { type: "button", class: "chip zoom-reset", onclick: () => this.map.reset() }, "Reset zoom"),
      this.zoomText,
      el("span", { class: "bar-label hint" }, "wheel or +/\u2212: zoom \u00b7 drag or arrows: pan \u00b7 shift-click: hide a key"),
    ].filter(Boolean));
  }

  renderNote(colTokens) {
    const d = this.display;
    this.note.hidden = !this.hidden.length;
    if (!this.hidden.length) return;
    const named = this.hidden.slice(0, 4).map((p) => `${p} \u201c${tokenLabel(colTokens[p])}\u201d`).join(", ");
    const more = this.hidden.length > 4 ? ` and ${this.hidden.length - 4} more` : "";
    let meanHidden = 0;
    if (d.hiddenMass) for (const m of d.hiddenMass) meanHidden += m / d.hiddenMass.length;
    this.note.textContent = `Hidden key${this.hidden.length > 1 ? "s" : ""} ${named}${more} (grey; ${(100 * meanHidden).toFixed(1)}% ` +
      "of the weight on average): each row is renormalised over the other keys (weight \u00f7 (1 \u2212 the row\u2019s weight on hidden keys)).";
  }

  toggleHidden(c) {
    const item = this.display.colItems[c];
    const set = new Set(this.hidden);
    const positions = [];
    for (let p = item.start; p < item.end; p++) positions.push(p);
    const all = positions.every((p) => set.has(p));
    for (const p of positions) (all ? set.delete(p) : set.add(p));
    this.ctx.setState({ hide: set.size ? [...set].sort((a, b) => a - b) : null });
  }

  readout(r, c, value) {
    const d = this.display;
    const ri = d.rowItems[r];
    const ci = d.colItems[c];
    let text = `query \u201c${tokenLabel(ri.text)}\u201d (${positionText(ri)}) \u2192 key \u201c${tokenLabel(ci.text)}\u201d (${positionText(ci)}): ${value.toFixed(4)}`;
    if (d.hiddenCols[c]) text += " (hidden key)";
    else if (d.hiddenMass) text += ` (renormalised: ${d.hiddenMass[r].toFixed(3)} of the row was on hidden keys)`;
    if (this.kept) {
      const rule = this.ctx.meta.sparse && this.ctx.meta.sparse.top_k ? `the ${this.ctx.meta.sparse.top_k} strongest keys` : "its strongest keys";
      text += ` \u00b7 stored row kept ${this.kept[r].toFixed(3)} of its weight (sparse record: ${rule})`;
    }
    return text;
  }

  showZoom() {
    const m = this.map;
    if (!m || !m.view) return;
    if (!m.zoomed()) {
      this.zoomText.textContent = `${m.data.rows} \u00d7 ${m.data.cols}, whole matrix`;
      return;
    }
    const { r0, r1, c0, c1 } = visibleCells(m.view, m.data.rows, m.data.cols, m.plotW, m.plotH);
    this.zoomText.textContent = `${(m.view.scale / m.fit.scale).toFixed(1)}\u00d7: queries ${r0}\u2013${r1 - 1}, keys ${c0}\u2013${c1 - 1}`;
  }

  toCanvas() {
    return composeCanvas([this.map]);
  }

  toSVG() {
    return composeSVG([this.map]);
  }
}
