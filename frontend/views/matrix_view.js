// Matrix view: one head, or the mean of the selected heads, as a heat map made for long inputs:
// zoom and pan with an overview minimap (zoom_map.js), token labels once they fit, a colour
// scale (linear, square root, log) with its legend, words instead of word pieces, and hidden
// keys (the first token's "attention sink", or any the user shift-clicks) with each row
// renormalised over the others, as the note above the map says. Hovering reads out query, key
// and weight, and for sparse records the weight the stored row kept. A map too long to hold
// (layer_data.js tiledGrid) is read as tiles as it zooms (matrix_tiles.js): cells the record does
// not store in their own colour, rows renormalised at single weights only, word pieces as stored.

import { el } from "../dom.js";
import { cellColours, sequentialScale } from "../colors.js";
import { SCALES, defaultScale, logFloor, makeScale } from "../scales.js";
import { displayItems, displaySlab, keySequence, mergeRows, querySequence } from "../words.js";
import { composeCanvas, composeSVG } from "./heatmap.js";
import { keptOf, meanOf, notStoredAsNaN, sparseRule, tiledGrid } from "./layer_data.js";
import { cellKeys, legend } from "./legend.js";
import { recordTiles, storedRule, tiledHiddenNote, tiledScale, tileReadout } from "./matrix_tiles.js";
import { MAP_HINT, cellText, hiddenNote, mapControls, toggledHidden, zoomSummary } from "./map_controls.js";
import { ZoomMap } from "./zoom_map.js";
import { SpanSummary } from "./span_summary.js";
import { View } from "./view.js";
// Imported further down the graph; named here so the browser fetches them with this module.
import "./zoom_levels.js";
import "./zoom_input.js";
import "./axis_labels.js";
import "../pyramid.js";
import "./tile_images.js";
import "./tile_sources.js";
import "../tiles.js";

const SIDE_PX = 180; // the legend and minimap column

export class MatrixView extends View {
  constructor(host) {
    super(host, "matrix-view");
    this.bar = el("div", { class: "matrix-bar" });
    this.note = el("div", { class: "message matrix-note", hidden: true });
    this.zoomText = el("span", { class: "bar-label zoom-text", "aria-live": "polite" });
    this.summary = new SpanSummary(); // span and sink of every head, above the map
    this.root.append(this.summary.element, this.bar, this.note);
    // The view's state (set by render): the map (made once, so the zoom survives re-renders), the
    // render's context, what it shows (words.js displaySlab), the hidden keys and the kept weight.
    this.map = null;
    this.ctx = null;
    this.display = null;
    this.hidden = [];
    this.kept = null; // per display row (sparse records), else null
    this.tiled = false; // read as tiles (then readoutInfo: what tileReadout needs)
    this.readoutInfo = null;
  }

  destroy() {
    if (this.map) this.map.destroy();
    super.destroy();
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const [, H, , K] = meta.shape;
    const heads = ctx.selectedHeads(H);
    this.hidden = (state.hide || []).filter((p) => p < K);
    this.tiled = tiledGrid(meta);
    const merge = state.words === "1" && !this.tiled;
    const kind = SCALES.includes(state.scale) ? state.scale : defaultScale(K);
    const data = this.tiled ? this.tiledData(ctx, heads, kind) : await this.wholeData(ctx, heads, merge, kind);
    if (!ctx.current()) return;
    this.ctx = ctx;
    this.summary.render(ctx, this.tiled); // its scores arrive on their own
    const what = heads.length === 1 ? `head ${heads[0]}` : `mean of ${heads.length} heads`;
    this.drawMap(`Layer ${state.layer}, ${what}, step ${state.step}`, data, ctx.theme);
    this.renderBar(ctx, kind, merge);
    this.renderNote(meta);
    Object.assign(this.root.dataset, {
      heads: heads.join(","),
      layer: String(state.layer),
      scale: kind,
      words: merge ? "1" : "0",
      hidden: this.hidden.join(","),
      rows: String(this.display.rows),
      cols: String(this.display.cols),
      tiles: this.tiled ? "1" : "0",
    });
    if (this.tiled) {
      this.loadKept(ctx, heads); // the read-out's, after the first paint
      await this.map.levels.whenComplete();
      if (!ctx.current()) return;
    }
    performance.mark("tb-attention:matrix-view-drawn");
  }

  /** The map's data held whole: one head or the mean, hidden keys renormalised, words merged. */
  async wholeData(ctx, heads, merge, kind) {
    const { state, meta } = ctx;
    const [, , Q, K] = meta.shape;
    const source = { layer: ctx.layer, selection: ctx.selection };
    const [values, kept] = await Promise.all([
      meanOf(source, meta, state.step, state.layer, heads),
      keptOf(source, meta, state.step, state.layer, heads),
    ]);
    if (!ctx.current()) return null;
    const rowSeq = querySequence(meta);
    const colSeq = keySequence(meta);
    this.display = displaySlab({ data: values, rows: Q, cols: K, rowSeq, colSeq, merge, hidden: this.hidden });
    this.kept = kept && (merge ? mergeRows(kept, displayItems(rowSeq, true)) : kept);
    const d = this.display;
    // A sparse record's dropped keys: not stored, never a zero weight (word sums count them 0).
    const nan = meta.encoding === "sparse" && !merge;
    if (nan) d.data = notStoredAsNaN(d.data, values, Q, K, meta, state.layer, d.hiddenCols);
    return {
      values: d.data,
      rows: d.rows,
      cols: d.cols,
      mask: this.hidden.length ? d.hiddenCols : null,
      nan,
      scale: makeScale(kind, 0, 1, kind === "log" ? logFloor(d.data) : 1e-4),
    };
  }

  /** The map's data as tiles of the selection (matrix_tiles.js): token grid, no words. */
  tiledData(ctx, heads, kind) {
    const { state, meta } = ctx;
    const [, , Q, K] = meta.shape;
    const record = { run: state.run, tag: state.tag, step: state.step, meta };
    const rowItems = displayItems(querySequence(meta), false);
    const colItems = displayItems(keySequence(meta), false);
    this.display = { rows: Q, cols: K, rowItems, colItems };
    this.kept = null;
    const tiles = recordTiles(ctx.tile, record, state.layer, heads, this.hidden);
    this.readoutInfo = { meta, rowItems, colItems, mean: heads.length > 1, kept: null, rule: sparseRule(meta) };
    return { tiles, rows: Q, cols: K, scale: tiledScale(kind) };
  }

  /** The weight each sparse row kept, for the read-out of a tiled map (fetched after the first paint). */
  async loadKept(ctx, heads) {
    const { state, meta } = ctx;
    const source = { layer: ctx.layer, selection: ctx.selection };
    try {
      const kept = await keptOf(source, meta, state.step, state.layer, heads);
      if (ctx.current()) this.readoutInfo.kept = kept;
    } catch (_) {
      // the read-out goes without it
    }
  }

  drawMap(title, data, theme) {
    const d = this.display;
    if (!this.map) {
      this.map = new ZoomMap({
        title,
        readout: (r, c, value, cell) => this.readout(r, c, value, cell),
        onPick: (r, c) => this.toggleHidden(c),
        onView: () => this.showZoom(),
      });
    }
    this.map.opts.title = title;
    this.map.caption.textContent = title;
    const colours = cellColours(theme);
    const table = sequentialScale(theme);
    this.map.setData({
      ...data,
      rowLabels: d.rowItems.map((i) => i.text),
      colLabels: d.colItems.map((i) => i.text),
      table,
      maskRGB: colours.hidden,
      nanRGB: colours.notStored,
      loading: colours.loading,
    });
    const keys =
      this.tiled || data.nan
        ? cellKeys(theme, { hidden: this.hidden.length > 0, notStored: true, loading: this.tiled })
        : null;
    this.map.side.replaceChildren(legend(data.scale, table), ...(keys ? [keys] : []), this.map.mini);
    if (this.map.element.parentNode !== this.root) this.root.append(this.map.element);
    const maxWidth = Math.max(240, this.host.clientWidth - 24 - SIDE_PX);
    const above = this.summary.element.open ? this.summary.element.getBoundingClientRect().height : 0;
    const maxHeight = Math.max(300, (window.innerHeight || 900) - 230 - above);
    this.map.layout(maxWidth, maxHeight);
    this.map.draw();
    this.map.levels.fillIn();
    this.showZoom();
  }

  renderBar(ctx, kind, merge) {
    this.bar.replaceChildren(
      ...mapControls(ctx, { kind, merge, hidden: this.hidden, reset: () => this.map.reset(), tiled: this.tiled }),
      this.zoomText,
      el("span", { class: "bar-label hint" }, MAP_HINT),
    );
  }

  renderNote(meta) {
    const colTokens = keySequence(meta).tokens;
    this.note.hidden = !this.hidden.length;
    if (!this.hidden.length) return;
    this.note.textContent = this.tiled
      ? tiledHiddenNote(this.hidden, colTokens)
      : hiddenNote(this.hidden, colTokens, this.display.hiddenMass);
  }

  toggleHidden(c) {
    this.ctx.setState({ hide: toggledHidden(this.hidden, this.display.colItems[c]) });
  }

  readout(r, c, value, cell) {
    if (this.tiled) return tileReadout(r, c, value, cell, this.readoutInfo);
    const d = this.display;
    const ri = d.rowItems[r];
    const ci = d.colItems[c];
    const shown = value === value ? value.toFixed(4) : `not stored (${storedRule(this.ctx.meta)})`;
    let text = `${cellText(ri, ci)}: ${shown}`;
    if (d.hiddenCols[c]) text += " (hidden key)";
    else if (d.hiddenMass) text += ` (renormalised: ${d.hiddenMass[r].toFixed(3)} of the row was on hidden keys)`;
    if (this.kept)
      text += ` \u00b7 stored row kept ${this.kept[r].toFixed(3)} of its weight (${sparseRule(this.ctx.meta)})`;
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
