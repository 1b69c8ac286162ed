// The long-context summary at the top of the matrix view: for every layer x head of the shown
// step, how far back attention reaches (`span_p90` or `span_mean`, in tokens, the sink left out)
// as the cell's colour on a log scale of tokens, and the share of attention on the sink (`sink`)
// as a bar along the cell's foot: the stored scores (/patterns, computed from the full weights
// when the step was logged; docs/patterns.md). A click opens the head in this view, a
// shift-click in the other view a head opens in (registry.js HEAD_VIEWS), as the model view does.
// A record without these scores says so.

import { el, svg } from "../dom.js";
import { cssColor, spanScale } from "../colors.js";
import { makeScale, tickLabel } from "../scales.js";
import { HEAD_VIEWS } from "./registry.js";

const METRICS = { span_p90: "90% of the weight within", span_mean: "mean distance" };
const NEEDED = ["span_mean", "span_p90", "sink"];
const BODY_EXTRA_PX = 64; // the key's row, the grid's margins and the read-out's line

/** Cell size for L layers x H heads: small, whatever the model (at most about 160 x 600 px). */
export function cellSize(L, H) {
  return {
    w: Math.max(6, Math.min(18, Math.floor(600 / Math.max(1, H)))),
    h: Math.max(6, Math.min(16, Math.floor(160 / Math.max(1, L)))),
  };
}

/** The step's span and sink scores of a /patterns answer ({span_mean, span_p90, sink}: [L][H]), or null. */
export function spanScores(body, step) {
  const index = body.steps.indexOf(step);
  const scores = index >= 0 ? body.scores[index] : null;
  if (!scores || !NEEDED.every((m) => Array.isArray(scores[m]))) return null;
  return Object.fromEntries(NEEDED.map((m) => [m, scores[m]]));
}

function fmt(v, digits = 1) {
  return typeof v === "number" ? v.toFixed(digits) : "\u2013";
}

export class SpanSummary {
  constructor() {
    this.thisView = null; // the name of the view showing the summary (a click opens heads there)
    this.metric = "span_p90";
    this.body = el("div", { class: "ss-body" });
    this.readout = el("div", { class: "hm-readout ss-readout", role: "status" }, "\u00a0");
    this.element = el(
      "details",
      { class: "span-summary" },
      el("summary", {}, "How far back each head reads, and its sink share (stored scores)"),
      this.body,
    );
    this.key = null; // what is drawn: run, tag, step, kind, metric, theme
    this.ctx = null; // the last render's
    this.drawn = false; // whether render() ran once (the first sets `open`)
    // Closed, it fetches nothing (short records open with it closed: no extra request).
    this.element.addEventListener("toggle", () => this.element.open && this.ctx && this.fill(this.ctx));
  }

  /** Show the summary of the context's step, fetched once it is open; `open` the first time. */
  render(ctx, open) {
    if (!this.drawn) this.element.open = open;
    this.drawn = true;
    this.ctx = ctx;
    this.thisView = ctx.state.view;
    const [L, H] = ctx.meta.shape;
    // One height whatever arrives (scores, a message): the map below keeps its size and zoom.
    this.body.style.height = `${L * cellSize(L, H).h + BODY_EXTRA_PX}px`;
    if (this.element.open) this.fill(ctx);
  }

  /** Fetch and draw the scores of the context's step (once per step, metric and theme). */
  async fill(ctx) {
    const { state, meta } = ctx;
    const key = JSON.stringify([state.run, state.tag, state.step, state.kind, this.metric, ctx.theme]);
    if (key === this.key) return;
    this.key = key;
    const [L, H] = meta.shape;
    const size = cellSize(L, H);
    let body;
    try {
      body = await ctx.patterns(state.run, state.tag);
    } catch (e) {
      if (this.key === key) this.say(`Span scores unavailable: ${e.message}`);
      return;
    }
    if (this.key !== key) return; // another step (or metric, theme) asked meanwhile
    const scores = spanScores(body, state.step);
    if (!scores) {
      this.say(
        "This step has no stored span and sink scores (they are computed when a step is logged; " +
          "records from earlier versions, or logged without scores, have none).",
      );
      return;
    }
    this.draw(ctx, scores, size, meta.shape[2]);
  }

  say(text) {
    this.body.replaceChildren(el("div", { class: "message ss-none" }, text));
    this.element.dataset.scores = "none";
  }

  draw(ctx, scores, size, tokens) {
    const L = scores.sink.length;
    const H = L ? scores.sink[0].length : 0;
    const scale = makeScale("log", 0, Math.max(2, tokens), 1);
    const table = spanScale(ctx.theme);
    const grid = svg("svg", { class: "ss-grid", width: H * size.w + 40, height: L * size.h + 16 });
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) grid.append(this.cell(scores, l, h, size, scale, table));
    for (let l = 0; l < L; l++)
      grid.append(svg("text", { x: 0, y: 12 + l * size.h + size.h / 2 + 3, class: "ss-label" }, `L${l}`));
    grid.addEventListener("click", (e) => this.open(e));
    grid.addEventListener("mousemove", (e) => this.hover(e));
    const picker = el(
      "select",
      { class: "ss-metric", "aria-label": "Span shown", onchange: (e) => this.pick(e.target.value) },
      Object.entries(METRICS).map(([m, text]) => el("option", { value: m, selected: m === this.metric }, text)),
    );
    const ticks = [1, 10, 100, 1000, 10000, 100000].filter((t) => t <= tokens);
    const key = el(
      "div",
      { class: "ss-key" },
      el("label", { class: "field" }, "Colour: how far back, tokens (log),", picker),
      ...ticks.map((t) =>
        el(
          "span",
          { class: "ss-tick" },
          el("i", { style: { background: cssColor(table, scale.index(t), 0, 255) } }),
          tickLabel(t),
        ),
      ),
      el("span", { class: "ss-sink-key" }, "bar: share of attention on the first token (sink)"),
    );
    this.body.replaceChildren(key, grid, this.readout);
    Object.assign(this.element.dataset, { scores: "stored", metric: this.metric, layers: String(L), heads: String(H) });
  }

  /** One head's cell: its span's colour, its sink bar, its scores as data-* (read by tests). */
  cell(scores, l, h, size, scale, table) {
    const span = scores[this.metric][l][h];
    const sink = scores.sink[l][h];
    const x = 24 + h * size.w;
    const y = 12 + l * size.h;
    const fill = typeof span === "number" ? cssColor(table, scale.index(span), 0, 255) : "none";
    const g = svg("g", {
      class: "ss-cell",
      "data-layer": l,
      "data-head": h,
      "data-span-mean": scores.span_mean[l][h],
      "data-span-p90": scores.span_p90[l][h],
      "data-sink": sink,
    });
    g.append(svg("rect", { class: "ss-span", x, y, width: size.w - 1, height: size.h - 1, fill }));
    const bar = typeof sink === "number" ? Math.max(0, Math.min(1, sink)) * (size.w - 1) : 0;
    g.append(svg("rect", { class: "ss-sink", x, y: y + size.h - 3, width: bar, height: 2 }));
    return g;
  }

  target(e) {
    const g = e.target.closest && e.target.closest(".ss-cell");
    return g ? [Number(g.dataset.layer), Number(g.dataset.head), g] : null;
  }

  hover(e) {
    const at = this.target(e);
    if (!at) return;
    const d = at[2].dataset;
    const other = HEAD_VIEWS.find((v) => v.name !== this.thisView);
    this.readout.textContent =
      `Layer ${at[0]}, head ${at[1]}: 90% of the weight within ${fmt(Number(d.spanP90))} tokens, ` +
      `mean distance ${fmt(Number(d.spanMean))}, sink ${fmt(Number(d.sink), 2)} \u00b7 click: open here` +
      (other ? `, shift-click: the ${other.label.toLowerCase()} view` : "");
  }

  open(e) {
    const at = this.target(e);
    if (!at) return;
    const other = HEAD_VIEWS.find((v) => v.name !== this.thisView);
    const view = e.shiftKey && other ? other.name : this.thisView;
    this.ctx.openHead(at[0], at[1], { view }); // the latest render's context
  }

  pick(metric) {
    this.metric = metric;
    this.fill(this.ctx);
  }
}
