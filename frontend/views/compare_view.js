// Compare view: the shown layer (one head or the mean of the selected heads) at two records,
// A (the current run/step) and B (another step, or the same tag in another run), side by side,
// with the difference B - A on a diverging scale and the heads that changed most (/change).
// Made for long inputs as the matrix view is: the three maps zoom and pan together (one
// overview minimap), hovering a cell marks it in all three and reads out A, B and B - A, A and B
// share the chosen colour scale, and the first token (or any shift-clicked key) can be hidden
// with every row renormalised, in both records alike.

import { el, select } from "../dom.js";
import { cellColours, sequentialScale, divergingScale } from "../colors.js";
import { SCALES, defaultScale } from "../scales.js";
import { composeCanvas, composeSVG } from "./heatmap.js";
import { meanOf, tiledGrid } from "./layer_data.js";
import { tiledCompareFrame, tiledCompareReadout } from "./compare_tiles.js";
import { compareFrame, defaultStepB, mismatch, sameTokens } from "./compare_frame.js";
import { changePanel, showChange } from "./compare_change.js";
import { cellKeys, legend } from "./legend.js";
import { tiledHiddenNote } from "./matrix_tiles.js";
import { MAP_HINT, cellText, hiddenNote, mapControls, toggledHidden, zoomSummary } from "./map_controls.js";
import { labelMargins } from "./axis_labels.js";
import { ZoomMap } from "./zoom_map.js";
import { View } from "./view.js";
// Imported further down the graph; named here so the browser fetches them with this module.
import "./zoom_levels.js";
import "./zoom_input.js";
import "../pyramid.js";
import "./tile_images.js";
import "./tile_sources.js";
import "../tiles.js";

export { defaultStepB, difference } from "./compare_frame.js";

const MINIMAP_SIDE_PX = 170; // the diff map's minimap column, shown once zoomed
const ROLES = ["cmp-a", "cmp-b", "cmp-diff"];

export class CompareView extends View {
  constructor(host) {
    super(host, "compare-view");
    this.zoomText = el("span", { class: "bar-label zoom-text", "aria-live": "polite" });
    // State: the maps (A, B, B - A; kept while the view lives, so the zoom survives a new B),
    // the render's context and CompareFrame, and the guards of the maps following each other.
    this.maps = [];
    this.ctx = null;
    this.frame = null;
    this.following = false;
    this.mirroring = false;
  }

  destroy() {
    for (const m of this.maps) m.destroy();
    super.destroy();
  }

  /** Record B: {run, steps, step, entry (its /steps entry), meta (its part of the shown kind)}. */
  async recordB(ctx) {
    const { state, meta } = ctx;
    const run = state.runB && ctx.runHasTag(state.runB, state.tag) ? state.runB : state.run;
    const steps = await ctx.steps(run, state.tag);
    const step = steps.some((s) => s.step === state.stepB)
      ? state.stepB
      : defaultStepB(steps, run === state.run ? state.step : null);
    const entry = steps.find((s) => s.step === step);
    return { run, steps, step, entry, meta: entry ? entry.parts[meta.kind] : null };
  }

  /** One head or the shown heads' mean of A and of B (computed by the server for long layers). */
  means(ctx, b, heads) {
    const { state, meta } = ctx;
    const sourceA = { layer: ctx.layer, selection: ctx.selection };
    const sourceB = {
      layer: (step, l) => ctx.layerOf(b.run, state.tag, step, l),
      selection: (step, l, opts) => ctx.selectionOf(b.run, state.tag, step, l, opts),
    };
    return Promise.all([
      meanOf(sourceA, meta, state.step, state.layer, heads),
      meanOf(sourceB, b.meta, b.step, state.layer, heads),
    ]);
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const b = await this.recordB(ctx);
    if (!ctx.current()) return;
    const controls = this.controls(ctx, b.run, b.steps, b.step);
    const problem = mismatch(state, meta, b);
    if (problem) {
      this.dropMaps();
      this.root.replaceChildren(controls, el("div", { class: "message error" }, problem));
      return;
    }
    const heads = ctx.selectedHeads(meta.shape[1]);
    const frame = await this.frameOf(ctx, b, heads);
    if (!ctx.current()) return;
    this.ctx = ctx;
    this.frame = frame;
    const data = this.setMaps(ctx);
    const change = changePanel();
    this.root.replaceChildren(controls, ...this.page(ctx), change);
    this.layoutMaps(data);
    this.showZoom();
    if (frame.tiled) {
      await Promise.all(this.maps.map((m) => m.levels.whenComplete()));
      if (!ctx.current()) return;
    }
    this.markDrawn(state);
    showChange(ctx, change, b.run, b.step);
  }

  /** What this render compares: the means held whole, or tiles of records too long to hold (compare_tiles.js). */
  async frameOf(ctx, b, heads) {
    const { state, meta } = ctx;
    if (tiledGrid(meta) || tiledGrid(b.meta)) {
      const kind = SCALES.includes(state.scale) ? state.scale : defaultScale(meta.shape[3]);
      return tiledCompareFrame(ctx, b, heads, kind, sameTokens(meta, b.meta));
    }
    const [va, vb] = await this.means(ctx, b, heads);
    return compareFrame(state, meta, b, va, vb, heads);
  }

  /** The frame's data into the three maps (made on first use); returns what each was given. */
  setMaps(ctx) {
    const { state } = ctx;
    const f = this.frame;
    const seq = sequentialScale(ctx.theme);
    const div = divergingScale(ctx.theme);
    const colours = cellColours(ctx.theme);
    const grid = { rows: f.a.rows, cols: f.a.cols, maskRGB: colours.hidden, nanRGB: colours.notStored, nan: f.nan };
    Object.assign(grid, f.tiled ? { loading: colours.loading } : { mask: f.hidden.length ? f.a.hiddenCols : null });
    const labels = (d) => ({ rowLabels: d.rowItems.map((i) => i.text), colLabels: d.colItems.map((i) => i.text) });
    const cells = f.tiled
      ? f.sources.map((tiles) => ({ tiles }))
      : [f.a.data, f.b.data, f.diff].map((values) => ({ values }));
    const data = [
      { ...grid, ...labels(f.a), ...cells[0], table: seq, scale: f.scale },
      { ...grid, ...labels(f.b), ...cells[1], table: seq, scale: f.scale },
      { ...grid, ...labels(f.a), ...cells[2], table: div, scale: f.diffScale, signed: true },
    ];
    const titles = [
      `A: ${state.run} @ ${state.step}`,
      `B: ${f.recordB.run} @ ${f.recordB.step}`,
      `B \u2212 A (\u00b1${f.range.toFixed(3)})`,
    ];
    this.ensureMaps();
    this.maps.forEach((m, i) => {
      m.opts.title = titles[i];
      m.caption.textContent = titles[i];
      m.setData(data[i]);
    });
    return data;
  }

  /** What is shown below the B controls: the map bar, notes, the three maps and their legends. */
  page(ctx) {
    const { state, meta } = ctx;
    const f = this.frame;
    const what = f.heads.length === 1 ? `head ${f.heads[0]}` : `mean of ${f.heads.length} heads`;
    const warn = "A and B were logged on different tokens: cells compare positions, not words.";
    const colTokens = meta.key_tokens || meta.tokens;
    const hiddenText = () =>
      f.tiled ? tiledHiddenNote(f.hidden, colTokens) : hiddenNote(f.hidden, colTokens, f.a.hiddenMass);
    const reset = () => this.maps[2].reset();
    const keys = { hidden: f.hidden.length > 0, notStored: true, loading: true };
    const seq = sequentialScale(ctx.theme);
    return [
      el(
        "div",
        { class: "matrix-bar" },
        ...mapControls(ctx, { kind: f.kind, merge: f.merge, hidden: f.hidden, reset, tiled: Boolean(f.tiled) }),
        this.zoomText,
        el("span", { class: "bar-label hint" }, MAP_HINT),
      ),
      el("div", { class: "bar-label" }, `Layer ${state.layer}, ${what}`),
      f.sameTokens ? "" : el("div", { class: "message warn" }, warn),
      f.hidden.length ? el("div", { class: "message compare-note" }, hiddenText()) : "",
      el(
        "div",
        { class: "compare-grid" },
        this.maps.map((m) => m.element),
      ),
      el(
        "div",
        { class: "compare-legends" },
        legend(f.scale, seq, "A and B: weight"),
        legend(f.diffScale, divergingScale(ctx.theme), "B \u2212 A"),
        f.tiled || f.nan ? cellKeys(ctx.theme, { ...keys, loading: Boolean(f.tiled) }) : null,
      ),
    ];
  }

  /** Size and draw the three maps side by side, with one label gutter for all. */
  layoutMaps(data) {
    const width = Math.max(200, Math.floor((this.host.clientWidth - 60 - MINIMAP_SIDE_PX) / 3));
    const height = Math.max(240, Math.min(width + 120, (window.innerHeight || 900) - 260));
    // One gutter for all three (B's labels may be longer): the maps share a geometry, so one
    // view fits each, and reset or a new B moves all three alike.
    const [ma, mb] = data.slice(0, 2).map((d) => labelMargins(d.rowLabels, d.colLabels));
    const margins = { left: Math.max(ma.left, mb.left), top: Math.max(ma.top, mb.top) };
    for (const m of this.maps) {
      m.layout(width, height, margins);
      m.draw();
      m.levels.fillIn();
    }
  }

  markDrawn(state) {
    const f = this.frame;
    Object.assign(this.root.dataset, {
      stepB: String(f.recordB.step),
      runB: f.recordB.run,
      heads: f.heads.join(","),
      layer: String(state.layer),
      scale: f.kind,
      words: f.merge ? "1" : "0",
      hidden: f.hidden.join(","),
      rows: String(f.a.rows),
      cols: String(f.a.cols),
    });
    performance.mark("tb-attention:compare-view-drawn");
  }

  /** The three maps, made once so the zoom survives a change of B, scale or hidden keys. */
  ensureMaps() {
    if (this.maps.length) return;
    this.maps = ROLES.map((role, i) => {
      const m = new ZoomMap({
        title: "",
        minimap: role === "cmp-diff",
        readout: (r, c, value, cell) => this.readout(i, r, c, value, cell),
        onPick: (r, c) => this.ctx.setState({ hide: toggledHidden(this.frame.hidden, this.frame.a.colItems[c]) }),
        onView: (view) => this.follow(i, view),
        onHover: (at) => this.mirrorHover(i, at),
      });
      m.element.classList.add(role);
      return m;
    });
  }

  dropMaps() {
    for (const m of this.maps) m.destroy();
    this.maps = [];
  }

  /** Map i moved: the others show the same region. */
  follow(i, view) {
    if (this.following) return;
    this.following = true;
    try {
      this.maps.forEach((m, j) => j !== i && m.setView(view));
    } finally {
      this.following = false;
    }
    this.showZoom();
  }

  /** Map i hovers a cell (or none): the others mark the same cell. */
  mirrorHover(i, at) {
    if (this.mirroring) return;
    this.mirroring = true;
    try {
      this.maps.forEach((m, j) => {
        if (j === i || !m.og) return;
        if (at) m.showCell(...at);
        else m.clearHover();
      });
    } finally {
      this.mirroring = false;
    }
  }

  showZoom() {
    const m = this.maps[2];
    if (m && m.view) this.zoomText.textContent = zoomSummary(m);
  }

  /** The read-out of cell (r, c) under map i: the tokens and A's or B's weight; under the difference, B - A. */
  readout(i, r, c, value, tile) {
    if (this.frame.tiled) return tiledCompareReadout(this.frame, this.ctx.meta, i, r, c, value, tile);
    const { a, b, diff } = this.frame;
    const tokens = i === 1 ? b : a; // B's own tokens under B (they may differ from A's)
    const ri = tokens.rowItems[r];
    const ci = tokens.colItems[c];
    const k = r * a.cols + c;
    const cell = cellText(ri, ci);
    if (a.hiddenCols[c]) return `${cell}: hidden key`;
    const renormalised = (d) =>
      d.hiddenMass ? ` (renormalised: ${d.hiddenMass[r].toFixed(3)} of the row was on hidden keys)` : "";
    const fmt = (v) => (v === v ? v.toFixed(4) : "not stored");
    if (i === 0) return `${cell}: ${fmt(a.data[k])}${renormalised(a)}`;
    if (i === 1) return `${cell}: ${fmt(b.data[k])}${renormalised(b)}`;
    const d = diff[k];
    const both = `(A ${fmt(a.data[k])}, B ${fmt(b.data[k])})`;
    return `${cell}: B \u2212 A = ${d > 0 ? "+" : ""}${fmt(d)} ${both}`;
  }

  /** The A label and the B run and step selects. */
  controls(ctx, runB, stepsB, stepB) {
    const { state } = ctx;
    return el(
      "div",
      { class: "compare-bar" },
      el("span", { class: "bar-label" }, `A: ${state.run} @ step ${state.step}`),
      el("span", { class: "bar-label" }, "B:"),
      select(
        ctx.runsWithTag(state.tag).map((r) => [r, r]),
        runB,
        (v) => ctx.setState({ runB: v, stepB: null }),
        { "aria-label": "Run B", class: "run-b" },
      ),
      select(
        stepsB.map((s) => [s.step, `step ${s.step}`]),
        stepB,
        (v) => ctx.setState({ runB, stepB: Number(v) }),
        { "aria-label": "Step B", class: "step-b" },
      ),
    );
  }

  toCanvas() {
    return this.maps.length ? composeCanvas(this.maps) : null;
  }

  toSVG() {
    return this.maps.length ? composeSVG(this.maps) : null;
  }
}
