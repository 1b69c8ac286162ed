// Patterns view: head-pattern scores (/patterns, docs/patterns.md) of the current step: a
// layers x heads grid coloured by one metric, a sortable heads x metrics table filterable by
// label, and a chart of one head's metric over every logged step. Clicking a head in the grid
// (or its name in the table) opens it in the head view. Metric names, labels and their rules
// come from the server with the scores.

import { el, svg, select, cssVar } from "../dom.js";
import { cssColor, sequentialScale } from "../colors.js";
import { View } from "./view.js";

function metricRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of values) for (const v of row) if (typeof v === "number") { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!(hi >= lo)) return [0, 1];
  return [Math.min(lo, 0), hi > 1 ? hi : 1];
}

const fmt = (v) => (typeof v === "number" ? v.toFixed(3) : "\u2013");

/** The labelling rules as the server states them, for a tooltip: "previous_token: previous_token > 0.5; ...". */
export function ruleText(rules) {
  return rules.thresholds.map((t) => `${t.label}: ${t.metric} > ${t.threshold}`).join("; ");
}

export class PatternsView extends View {
  constructor(host) {
    super(host, "patterns-view");
  }

  async render(ctx) {
    const { state } = ctx;
    const body = await ctx.patterns(state.run, state.tag);
    if (!ctx.current()) return;
    this.ctx = ctx;
    const index = body.steps.indexOf(state.step);
    const scores = index >= 0 ? body.scores[index] : null;
    const headLabels = index >= 0 ? body.head_labels[index] : null;
    if (!scores) {
      this.root.replaceChildren(el("div", { class: "message" },
        `No head-pattern scores for step ${state.step}: they are computed when a step is logged (by tb_attention.patterns), and this step was logged without them.`));
      this.svgNode = null;
      return;
    }
    const { rules } = body;
    const metrics = rules.metrics.filter((m) => Array.isArray(scores[m]));
    const metric = metrics.includes(state.metric) ? state.metric : metrics[0];
    const L = scores[metric].length;
    const H = L ? scores[metric][0].length : 0;
    const chartHead = state.head != null && state.head < L * H ? state.head : state.layer * H + (ctx.selectedHeads(H)[0] || 0);
    const controls = el("div", { class: "patterns-bar" },
      el("label", {}, "Metric ", select(metrics.map((m) => [m, m]), metric, (v) => ctx.setState({ metric: v }), { class: "metric-select" })),
      el("label", {}, "Label ", select([["", "any"], ...rules.labels.map((l) => [l, l])], state.label, (v) => ctx.setState({ label: v }), { class: "label-filter", title: ruleText(rules) })));
    this.root.replaceChildren(controls,
      el("div", { class: "patterns-top" }, this.grid(scores, headLabels, metric, L, H, ctx), this.chart(body, metric, chartHead, H)),
      this.table(scores, headLabels, metrics, L, H, ctx));
    this.root.dataset.metric = metric;
    performance.mark("tb-attention:patterns-view-drawn");
  }

  grid(scores, headLabels, metric, L, H, ctx) {
    const values = scores[metric];
    const [lo, hi] = metricRange(values);
    const table = sequentialScale(ctx.theme);
    const grid = el("div", { class: "pattern-grid", role: "grid", style: { gridTemplateColumns: `28px repeat(${H}, 22px)` } });
    grid.append(el("span", {}), ...Array.from({ length: H }, (_, h) => el("span", { class: "axis" }, String(h))));
    for (let l = 0; l < L; l++) {
      grid.append(el("span", { class: "axis" }, `L${l}`));
      for (let h = 0; h < H; h++) {
        const v = values[l][h];
        grid.append(el("button", {
          type: "button", class: "pg-cell", dataset: { layer: String(l), head: String(h) },
          title: `layer ${l} head ${h}: ${metric} ${fmt(v)} (${headLabels[l][h].join(", ")})`,
          "aria-label": `layer ${l} head ${h} ${metric} ${fmt(v)}`,
          style: { background: typeof v === "number" ? cssColor(table, v, lo, hi) : "transparent" },
          onclick: () => ctx.setState({ view: "head", layer: l, heads: [h], head: l * H + h }),
        }));
      }
    }
    return el("figure", { class: "pattern-grid-box" }, el("figcaption", {}, `${metric} by layer \u00d7 head (click: head view)`), grid);
  }

  chart(body, metric, flat, H) {
    const l = Math.floor(flat / H);
    const h = flat % H;
    const points = [];
    body.steps.forEach((step, i) => {
      const s = body.scores[i];
      const v = s && s[metric] && s[metric][l] ? s[metric][l][h] : null;
      if (typeof v === "number") points.push([step, v]);
    });
    const W = 340;
    const Hh = 160;
    const pad = { l: 42, r: 10, t: 10, b: 26 };
    const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width: W, height: Hh, viewBox: `0 0 ${W} ${Hh}`, class: "pattern-chart" });
    const fg = cssVar("--fg") || "#222";
    const muted = cssVar("--fg-muted") || "#777";
    if (points.length) {
      const xs = points.map((p) => p[0]);
      const ys = points.map((p) => p[1]);
      const x0 = Math.min(...xs);
      const x1 = Math.max(...xs);
      const y0 = Math.min(0, ...ys);
      const y1 = Math.max(1, ...ys);
      const sx = (x) => pad.l + (x1 > x0 ? ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r) : (W - pad.l - pad.r) / 2);
      const sy = (y) => Hh - pad.b - ((y - y0) / (y1 - y0 || 1)) * (Hh - pad.t - pad.b);
      root.append(svg("line", { x1: pad.l, y1: Hh - pad.b, x2: W - pad.r, y2: Hh - pad.b, stroke: muted }));
      root.append(svg("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: Hh - pad.b, stroke: muted }));
      for (const [y, label] of [[y0, y0.toFixed(2)], [y1, y1.toFixed(2)]]) {
        root.append(svg("text", { x: pad.l - 4, y: sy(y) + 4, "text-anchor": "end", fill: muted, "font-size": 10 }, label));
      }
      root.append(svg("text", { x: pad.l, y: Hh - 8, fill: muted, "font-size": 10 }, `step ${x0}`));
      root.append(svg("text", { x: W - pad.r, y: Hh - 8, fill: muted, "font-size": 10, "text-anchor": "end" }, `step ${x1}`));
      root.append(svg("polyline", { points: points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "), fill: "none", stroke: cssVar("--accent") || "#f57c00", "stroke-width": 2 }));
      for (const [x, y] of points) root.append(svg("circle", { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 3, fill: cssVar("--accent") || "#f57c00" }, null));
    } else {
      root.append(svg("text", { x: W / 2, y: Hh / 2, "text-anchor": "middle", fill: fg }, "no scores for this head"));
    }
    this.svgNode = root;
    return el("figure", { class: "pattern-chart-box", dataset: { points: String(points.length) } },
      el("figcaption", {}, `Layer ${l} head ${h}: ${metric} over steps (pick a head in the table)`), root);
  }

  table(scores, headLabels, metrics, L, H, ctx) {
    const { state } = ctx;
    const [sortKey, sortDir] = (state.sort || "layer:asc").split(":");
    let rows = [];
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) rows.push({ l, h, labels: headLabels[l][h] });
    }
    if (state.label) rows = rows.filter((r) => r.labels.includes(state.label));
    const value = (r) => (sortKey === "layer" ? r.l * H + r.h : sortKey === "label" ? r.labels[0] : scores[sortKey] && scores[sortKey][r.l][r.h]);
    rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va == null && vb == null) return 0;
      if (va == null) return 1; // undefined metrics sort last either way
      if (vb == null) return -1;
      const c = va < vb ? -1 : va > vb ? 1 : 0;
      return sortDir === "desc" ? -c : c;
    });
    const header = (key, label) => {
      const active = key === sortKey;
      const next = active && sortDir === "desc" ? "asc" : active ? "desc" : key === "layer" || key === "label" ? "asc" : "desc";
      return el("th", { "aria-sort": active ? (sortDir === "desc" ? "descending" : "ascending") : "none" },
        el("button", { type: "button", class: "sort", dataset: { sort: key }, onclick: () => ctx.setState({ sort: `${key}:${next}` }) },
          label, active ? (sortDir === "desc" ? " \u25be" : " \u25b4") : ""));
    };
    const tbody = el("tbody", {}, rows.map((r) => el("tr", {
      class: `clickable${state.head === r.l * H + r.h ? " chosen" : ""}`, dataset: { layer: String(r.l), head: String(r.h) },
      onclick: () => ctx.setState({ head: r.l * H + r.h }),
    },
    el("td", {}, el("button", {
      type: "button", class: "link open-head", title: "Open in the head view",
      onclick: (e) => { e.stopPropagation(); ctx.setState({ view: "head", layer: r.l, heads: [r.h], head: r.l * H + r.h }); },
    }, `L${r.l} H${r.h}`)),
    el("td", { class: "labels" }, r.labels.join(", ")),
    metrics.map((m) => el("td", { class: "num" }, fmt(scores[m][r.l][r.h]))))));
    return el("div", { class: "table-wrap" },
      el("table", { class: "patterns-table" },
        el("thead", {}, el("tr", {}, header("layer", "head"), header("label", "labels"), metrics.map((m) => header(m, m.replace(/_/g, " "))))),
        tbody),
      el("div", { class: "bar-label" }, `${rows.length} of ${L * H} heads`));
  }

  toSVG() {
    return this.svgNode;
  }
}
