// Compare view: the shown layer (one head or the mean of the selected heads) at two records,
// A (the current run/step) and B (another step, or the same tag in another run), side by side,
// with the difference B - A on a diverging scale and the heads that changed most (/change).
// Made for long inputs as the matrix view is: the three maps zoom and pan together (one
// overview minimap), hovering a cell marks it in all three and reads out A, B and B - A, A and B
// share the chosen colour scale, and the first token (or any shift-clicked key) can be hidden
// with every row renormalised, in both records alike.

import { el, select, tokenLabel } from "../dom.js";
import { sequentialScale, divergingScale } from "../colors.js";
import { SCALES, defaultScale, logFloor, makeScale } from "../scales.js";
import { displaySlab, keySequence, positionText, querySequence } from "../words.js";
import { composeCanvas, composeSVG } from "./heatmap.js";
import { meanOf } from "./layer_data.js";
import { legend } from "./legend.js";
import { MAP_HINT, hiddenNote, mapControls, toggledHidden, zoomSummary } from "./map_controls.js";
import { labelMargins } from "./axis_labels.js";
import { ZoomMap } from "./zoom_map.js";
import { View } from "./view.js";
// Imported further down the graph; named here so the browser fetches them with this module.
import "./zoom_levels.js";
import "../pyramid.js";

const MINIMAP_SIDE_PX = 170; // the diff map's minimap column, shown once zoomed
const ROLES = ["cmp-a", "cmp-b", "cmp-diff"];

/** The default B: the last step when A is not the last one, else the first. */
export function defaultStepB(steps, stepA) {
  if (!steps.length) return null;
  const last = steps[steps.length - 1].step;
  return last !== stepA ? last : steps[0].step;
}

/** B - A of two equal-length arrays, and the largest |B - A|. */
export function difference(a, b) {
  const diff = new Float32Array(a.length);
  let maxAbs = 0;
  for (let i = 0; i < diff.length; i++) {
    diff[i] = b[i] - a[i];
    const m = Math.abs(diff[i]);
    if (m > maxAbs) maxAbs = m;
  }
  return { diff, maxAbs };
}

export class CompareView extends View {
  constructor(host) {
    super(host, "compare-view");
    this.maps = [];
    this.zoomText = el("span", { class: "bar-label zoom-text", "aria-live": "polite" });
  }

  destroy() {
    for (const m of this.maps) m.destroy();
    super.destroy();
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const runB = state.runB && ctx.runHasTag(state.runB, state.tag) ? state.runB : state.run;
    const stepsB = await ctx.steps(runB, state.tag);
    if (!ctx.current()) return;
    const stepB = stepsB.some((s) => s.step === state.stepB)
      ? state.stepB
      : defaultStepB(stepsB, runB === state.run ? state.step : null);
    const entryB = stepsB.find((s) => s.step === stepB);
    const metaB = entryB ? entryB.parts[meta.kind] : null;
    const controls = this.controls(ctx, runB, stepsB, stepB);
    if (metaB == null) {
      this.dropMaps();
      this.root.replaceChildren(
        controls,
        el(
          "div",
          { class: "message error" },
          entryB
            ? `step ${stepB} of ${runB} has no ${meta.kind} attention`
            : `run ${runB} has no steps of tag ${state.tag}`,
        ),
      );
      return;
    }
    const [, H, Q, K] = meta.shape;
    const shapeB = metaB.shape.slice(1);
    if (shapeB.join() !== [H, Q, K].join() || state.layer >= metaB.shape[0]) {
      this.dropMaps();
      this.root.replaceChildren(
        controls,
        el(
          "div",
          { class: "message error" },
          `cannot compare: A has shape [${H}, ${Q}, ${K}] and B [${shapeB.join(", ")}] in layer ${state.layer}; compare records of the same input`,
        ),
      );
      return;
    }
    const heads = ctx.selectedHeads(H);
    const what = heads.length === 1 ? `head ${heads[0]}` : `mean of ${heads.length} heads`;
    // One head or the shown heads' mean of each (computed by the server for long layers).
    const sourceA = { layer: ctx.layer, selection: ctx.selection };
    const sourceB = {
      layer: (step, l) => ctx.layerOf(runB, state.tag, step, l),
      selection: (step, l, opts) => ctx.selectionOf(runB, state.tag, step, l, opts),
    };
    const [va, vb] = await Promise.all([
      meanOf(sourceA, meta, state.step, state.layer, heads),
      meanOf(sourceB, metaB, stepB, state.layer, heads),
    ]);
    if (!ctx.current()) return;
    this.ctx = ctx;
    const sameTokens =
      metaB.tokens.join("\u0000") === meta.tokens.join("\u0000") &&
      (metaB.key_tokens || metaB.tokens).join("\u0000") === (meta.key_tokens || meta.tokens).join("\u0000");
    const merge = state.words === "1";
    this.hidden = (state.hide || []).filter((p) => p < K);
    const slab = (data, m) =>
      displaySlab({
        data,
        rows: Q,
        cols: K,
        rowSeq: querySequence(m),
        colSeq: keySequence(m),
        merge,
        hidden: this.hidden,
      });
    // Words of B's tokens may group differently: on other tokens, B is grouped as A is.
    const da = slab(va, meta);
    const db = slab(vb, merge && !sameTokens ? meta : metaB);
    const { diff, maxAbs } = difference(da.data, db.data);
    this.display = { a: da, b: db, diff };
    const kind = SCALES.includes(state.scale) ? state.scale : defaultScale(K);
    const floor = kind === "log" ? Math.min(logFloor(da.data), logFloor(db.data)) : 1e-4;
    const scale = makeScale(kind, 0, 1, floor);
    const range = Math.max(maxAbs, 1e-3);
    // The difference follows A and B's scale: linear with linear, else a signed square root.
    const diffScale = makeScale(kind === "linear" ? "linear" : "signed-sqrt", -range, range);
    const seq = sequentialScale(ctx.theme);
    const div = divergingScale(ctx.theme);
    const maskRGB = ctx.theme === "dark" ? [78, 78, 78] : [214, 214, 214];
    const mask = this.hidden.length ? da.hiddenCols : null;
    const labels = (d) => ({ rowLabels: d.rowItems.map((i) => i.text), colLabels: d.colItems.map((i) => i.text) });
    const grid = { rows: da.rows, cols: da.cols, mask, maskRGB };
    this.ensureMaps();
    const titles = [
      `A: ${state.run} @ ${state.step}`,
      `B: ${runB} @ ${stepB}`,
      `B \u2212 A (\u00b1${range.toFixed(3)})`,
    ];
    const data = [
      { ...grid, ...labels(da), values: da.data, table: seq, scale },
      { ...grid, ...labels(db), values: db.data, table: seq, scale },
      { ...grid, ...labels(da), values: diff, table: div, scale: diffScale, signed: true },
    ];
    this.maps.forEach((m, i) => {
      m.opts.title = titles[i];
      m.caption.textContent = titles[i];
      m.setData(data[i]);
    });
    const change = el(
      "div",
      { class: "change-panel" },
      el("h3", {}, "Heads that changed most (Jensen-Shannon divergence, nats)"),
      el("div", { class: "message" }, "Loading\u2026"),
    );
    const tokensNote = sameTokens
      ? null
      : el(
          "div",
          { class: "message warn" },
          "A and B were logged on different tokens: cells compare positions, not words.",
        );
    const note = this.hidden.length
      ? el(
          "div",
          { class: "message compare-note" },
          hiddenNote(this.hidden, meta.key_tokens || meta.tokens, da.hiddenMass),
        )
      : null;
    const bar = el(
      "div",
      { class: "matrix-bar" },
      ...mapControls(ctx, { kind, merge, hidden: this.hidden, reset: () => this.maps[2].reset() }),
      this.zoomText,
      el("span", { class: "bar-label hint" }, MAP_HINT),
    );
    const legends = el(
      "div",
      { class: "compare-legends" },
      legend(scale, seq, "A and B: weight"),
      legend(diffScale, div, "B \u2212 A"),
    );
    this.root.replaceChildren(
      controls,
      bar,
      el("div", { class: "bar-label" }, `Layer ${state.layer}, ${what}`),
      tokensNote || "",
      note || "",
      el(
        "div",
        { class: "compare-grid" },
        this.maps.map((m) => m.element),
      ),
      legends,
      change,
    );
    const width = Math.max(200, Math.floor((this.host.clientWidth - 60 - MINIMAP_SIDE_PX) / 3));
    const height = Math.max(240, Math.min(width + 120, (window.innerHeight || 900) - 260));
    // One gutter for all three (B's labels may be longer): the maps share a geometry, so one
    // view fits each, and reset or a new B moves all three alike.
    const [ma, mb] = [
      labelMargins(data[0].rowLabels, data[0].colLabels),
      labelMargins(data[1].rowLabels, data[1].colLabels),
    ];
    const margins = { left: Math.max(ma.left, mb.left), top: Math.max(ma.top, mb.top) };
    for (const m of this.maps) {
      m.layout(width, height, margins);
      m.draw();
      m.levels.fillIn();
    }
    this.showZoom();
    Object.assign(this.root.dataset, {
      stepB: String(stepB),
      runB,
      heads: heads.join(","),
      layer: String(state.layer),
      scale: kind,
      words: merge ? "1" : "0",
      hidden: this.hidden.join(","),
      rows: String(da.rows),
      cols: String(da.cols),
    });
    performance.mark("tb-attention:compare-view-drawn");
    this.renderChange(ctx, change, runB, stepB);
  }

  /** The three maps, made once so the zoom survives a change of B, scale or hidden keys. */
  ensureMaps() {
    if (this.maps.length) return;
    this.maps = ROLES.map((role, i) => {
      const m = new ZoomMap({
        title: "",
        minimap: role === "cmp-diff",
        readout: (r, c) => this.readout(i, r, c),
        onPick: (r, c) => this.ctx.setState({ hide: toggledHidden(this.hidden, this.display.a.colItems[c]) }),
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

  /** The read-out of cell (r, c) under map i: the tokens and A's or B's weight; under the difference, B - A of the two. */
  readout(i, r, c) {
    const { a, b, diff } = this.display;
    const tokens = i === 1 ? b : a; // B's own tokens under B (they may differ from A's)
    const ri = tokens.rowItems[r];
    const ci = tokens.colItems[c];
    const k = r * a.cols + c;
    const cell = `query \u201c${tokenLabel(ri.text)}\u201d (${positionText(ri)}) \u2192 key \u201c${tokenLabel(ci.text)}\u201d (${positionText(ci)})`;
    if (a.hiddenCols[c]) return `${cell}: hidden key`;
    const renormalised = (d) =>
      d.hiddenMass ? ` (renormalised: ${d.hiddenMass[r].toFixed(3)} of the row was on hidden keys)` : "";
    if (i === 0) return `${cell}: ${a.data[k].toFixed(4)}${renormalised(a)}`;
    if (i === 1) return `${cell}: ${b.data[k].toFixed(4)}${renormalised(b)}`;
    const d = diff[k];
    return `${cell}: B \u2212 A = ${d > 0 ? "+" : ""}${d.toFixed(4)} (A ${a.data[k].toFixed(4)}, B ${b.data[k].toFixed(4)})`;
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

  async renderChange(ctx, panel, runB, stepB) {
    const { state } = ctx;
    let body;
    try {
      body = await ctx.change({
        run: state.run,
        tag: state.tag,
        step_a: state.step,
        step_b: stepB,
        run_b: runB === state.run ? null : runB,
      });
    } catch (e) {
      if (!ctx.current()) return;
      panel.lastChild.replaceWith(el("div", { class: "message error" }, `head change unavailable: ${e.message}`));
      return;
    }
    if (!ctx.current()) return;
    const top = body.ranking.slice(0, 12);
    const max = Math.max(...top.map((r) => r.js), 1e-9);
    const table = el(
      "table",
      { class: "change-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "layer"), el("th", {}, "head"), el("th", {}, "JS"), el("th", {}, ""))),
      el(
        "tbody",
        {},
        top.map((r) =>
          el(
            "tr",
            {
              class: "clickable",
              tabindex: "0",
              title: "Open this head in the head view",
              onclick: () => ctx.openHead(r.layer, r.head),
              onkeydown: (e) => e.key === "Enter" && ctx.openHead(r.layer, r.head),
            },
            el("td", {}, String(r.layer)),
            el("td", {}, String(r.head)),
            el("td", {}, r.js.toFixed(4)),
            el("td", {}, el("span", { class: "bar", style: { width: `${Math.round((80 * r.js) / max)}px` } })),
          ),
        ),
      ),
    );
    panel.lastChild.replaceWith(table);
  }

  toCanvas() {
    return this.maps.length ? composeCanvas(this.maps) : null;
  }

  toSVG() {
    return this.maps.length ? composeSVG(this.maps) : null;
  }
}
