// Compare view: the shown layer (one head or the mean of the selected heads) at two records,
// A (the current run/step) and B (another step, or the same tag in another run), side by side,
// with the difference B - A on a diverging scale and the heads that changed most (/change).

import { el, select } from "../dom.js";
import { sequentialScale, divergingScale } from "../colors.js";
import { Heatmap, composeCanvas, composeSVG } from "./heatmap.js";
import { meanOf } from "./layer_data.js";
import { prettyTokens } from "../words.js";
import { View } from "./view.js";

/** The default B: the last step when A is not the last one, else the first. */
export function defaultStepB(steps, stepA) {
  if (!steps.length) return null;
  const last = steps[steps.length - 1].step;
  return last !== stepA ? last : steps[0].step;
}

export class CompareView extends View {
  constructor(host) {
    super(host, "compare-view");
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const runB = state.runB && ctx.runHasTag(state.runB, state.tag) ? state.runB : state.run;
    const stepsB = await ctx.steps(runB, state.tag);
    if (!ctx.current()) return;
    const stepB = stepsB.some((s) => s.step === state.stepB) ? state.stepB : defaultStepB(stepsB, runB === state.run ? state.step : null);
    const entryB = stepsB.find((s) => s.step === stepB);
    const metaB = entryB ? entryB.parts[meta.kind] : null;
    const controls = this.controls(ctx, runB, stepsB, stepB);
    if (metaB == null) {
      this.root.replaceChildren(controls, el("div", { class: "message error" },
        entryB ? `step ${stepB} of ${runB} has no ${meta.kind} attention` : `run ${runB} has no steps of tag ${state.tag}`));
      return;
    }
    const [, H, Q, K] = meta.shape;
    const shapeB = metaB.shape.slice(1);
    if (shapeB.join() !== [H, Q, K].join() || state.layer >= metaB.shape[0]) {
      this.maps = [];
      this.root.replaceChildren(controls, el("div", { class: "message error" },
        `cannot compare: A has shape [${H}, ${Q}, ${K}] and B [${shapeB.join(", ")}] in layer ${state.layer}; compare records of the same input`));
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
    const [va, vb] = await Promise.all([meanOf(sourceA, meta, state.step, state.layer, heads), meanOf(sourceB, metaB, stepB, state.layer, heads)]);
    if (!ctx.current()) return;
    const diff = new Float32Array(va.length);
    let maxAbs = 0;
    for (let i = 0; i < diff.length; i++) {
      diff[i] = vb[i] - va[i];
      maxAbs = Math.max(maxAbs, Math.abs(diff[i]));
    }
    const range = Math.max(maxAbs, 1e-3);
    const common = { rows: Q, cols: K, rowTokens: prettyTokens(meta.tokens), colTokens: prettyTokens(meta.key_tokens || meta.tokens) };
    const seq = sequentialScale(ctx.theme);
    this.maps = [
      new Heatmap({ ...common, title: `A: ${state.run} @ ${state.step}`, values: va, table: seq, lo: 0, hi: 1 }),
      new Heatmap({ ...common, title: `B: ${runB} @ ${stepB}`, values: vb, table: seq, lo: 0, hi: 1, rowTokens: prettyTokens(metaB.tokens), colTokens: prettyTokens(metaB.key_tokens || metaB.tokens) }),
      new Heatmap({ ...common, title: `B \u2212 A (\u00b1${range.toFixed(3)})`, values: diff, table: divergingScale(ctx.theme), lo: -range, hi: range }),
    ];
    this.maps[0].element.classList.add("cmp-a");
    this.maps[1].element.classList.add("cmp-b");
    this.maps[2].element.classList.add("cmp-diff");
    const grid = el("div", { class: "compare-grid" }, this.maps.map((m) => m.element));
    const change = el("div", { class: "change-panel" }, el("h3", {}, "Heads that changed most (Jensen-Shannon divergence, nats)"), el("div", { class: "message" }, "Loading\u2026"));
    const tokensNote = metaB.tokens.join("\u0000") === meta.tokens.join("\u0000") ? null
      : el("div", { class: "message warn" }, "A and B were logged on different tokens: cells compare positions, not words.");
    this.root.replaceChildren(controls, el("div", { class: "bar-label" }, `Layer ${state.layer}, ${what}`), tokensNote || "", grid, change);
    const width = Math.max(200, Math.floor((this.host.clientWidth - 60) / 3));
    for (const m of this.maps) m.draw(width);
    this.root.dataset.stepB = String(stepB);
    this.root.dataset.runB = runB;
    performance.mark("tb-attention:compare-view-drawn");
    this.renderChange(ctx, change, runB, stepB);
  }

  /** The A label and the B run and step selects. */
  controls(ctx, runB, stepsB, stepB) {
    const { state } = ctx;
    return el("div", { class: "compare-bar" },
      el("span", { class: "bar-label" }, `A: ${state.run} @ step ${state.step}`),
      el("span", { class: "bar-label" }, "B:"),
      select(ctx.runsWithTag(state.tag).map((r) => [r, r]), runB, (v) => ctx.setState({ runB: v, stepB: null }), { "aria-label": "Run B", class: "run-b" }),
      select(stepsB.map((s) => [s.step, `step ${s.step}`]), stepB, (v) => ctx.setState({ runB, stepB: Number(v) }), { "aria-label": "Step B", class: "step-b" }));
  }

  async renderChange(ctx, panel, runB, stepB) {
    const { state } = ctx;
    let body;
    try {
      body = await ctx.change({ run: state.run, tag: state.tag, step_a: state.step, step_b: stepB, run_b: runB === state.run ? null : runB });
    } catch (e) {
      if (!ctx.current()) return;
      panel.lastChild.replaceWith(el("div", { class: "message error" }, `head change unavailable: ${e.message}`));
      return;
    }
    if (!ctx.current()) return;
    const top = body.ranking.slice(0, 12);
    const max = Math.max(...top.map((r) => r.js), 1e-9);
    const table = el("table", { class: "change-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "layer"), el("th", {}, "head"), el("th", {}, "JS"), el("th", {}, ""))),
      el("tbody", {}, top.map((r) => el("tr", {
        class: "clickable", tabindex: "0", title: "Open this head in the head view",
        onclick: () => ctx.setState({ view: "head", layer: r.layer, heads: [r.head] }),
        onkeydown: (e) => e.key === "Enter" && ctx.setState({ view: "head", layer: r.layer, heads: [r.head] }),
      },
      el("td", {}, String(r.layer)), el("td", {}, String(r.head)), el("td", {}, r.js.toFixed(4)),
      el("td", {}, el("span", { class: "bar", style: { width: `${Math.round((80 * r.js) / max)}px` } }))))));
    panel.lastChild.replaceWith(table);
  }

  toCanvas() {
    return composeCanvas(this.maps);
  }

  toSVG() {
    return composeSVG(this.maps);
  }
}
