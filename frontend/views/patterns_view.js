// Patterns view: head-pattern scores (/patterns, docs/patterns.md) of the current step: a
// layers x heads grid coloured by one metric, a sortable heads x metrics table filterable by
// label, the heads that formed during training (/formed), and a chart of the chosen heads' metric
// over every logged step, in this run and optionally another one. Clicking a head in the grid (or
// its name in the table) opens it in the head view. Metric names, labels and their rules come
// from the server with the scores.

import { el, select } from "../dom.js";
import { cssColor, sequentialScale } from "../colors.js";
import { drawChart, headSeries, parsePicks, seriesColor, thresholdOf, togglePick } from "./patterns_chart.js";
import { View } from "./view.js";

function metricRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of values)
    for (const v of row)
      if (typeof v === "number") {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
  if (!(hi >= lo)) return [0, 1];
  return [Math.min(lo, 0), hi > 1 ? hi : 1];
}

const fmt = (v) => (typeof v === "number" ? v.toFixed(3) : "\u2013");
const headName = (l, h) => `L${l} H${h}`;

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
      this.root.replaceChildren(
        el(
          "div",
          { class: "message" },
          `No head-pattern scores for step ${state.step}: they are computed when a step is logged (by tb_attention.patterns), and this step was logged without them.`,
        ),
      );
      this.svgNode = null;
      return;
    }
    const { rules } = body;
    const metrics = rules.metrics.filter((m) => Array.isArray(scores[m]));
    const metric = metrics.includes(state.metric) ? state.metric : metrics[0];
    const L = scores[metric].length;
    const H = L ? scores[metric][0].length : 0;
    const runB = state.runB && state.runB !== state.run && ctx.runHasTag(state.runB, state.tag) ? state.runB : null;
    const [formed, bodyB] = await Promise.all([
      ctx.formed().catch((e) => ({ error: e.message })),
      runB ? ctx.patterns(runB, state.tag).catch(() => null) : null,
    ]);
    if (!ctx.current()) return;
    const picks = parsePicks(state.picks, L * H);
    const chartHead =
      state.head != null && state.head < L * H ? state.head : state.layer * H + (ctx.selectedHeads(H)[0] || 0);
    const chosen = picks.length ? picks : [chartHead];
    const others = ctx.runsWithTag(state.tag).filter((r) => r !== state.run);
    const controls = el(
      "div",
      { class: "patterns-bar" },
      el(
        "label",
        {},
        "Metric ",
        select(
          metrics.map((m) => [m, m]),
          metric,
          (v) => ctx.setState({ metric: v }),
          { class: "metric-select" },
        ),
      ),
      el(
        "label",
        {},
        "Label ",
        select([["", "any"], ...rules.labels.map((l) => [l, l])], state.label, (v) => ctx.setState({ label: v }), {
          class: "label-filter",
          title: ruleText(rules),
        }),
      ),
      el(
        "label",
        {},
        "Compare with run ",
        select([["", "none"], ...others.map((r) => [r, r])], runB || "", (v) => ctx.setState({ runB: v || null }), {
          class: "run-b-select",
        }),
      ),
    );
    this.root.replaceChildren(
      controls,
      el(
        "div",
        { class: "patterns-top", style: { display: "flex", flexWrap: "wrap", gap: "24px", alignItems: "flex-start" } },
        this.grid(scores, headLabels, metric, L, H, ctx),
        this.chart(body, bodyB, runB, metric, chosen, H, state),
        this.formedList(formed, picks, L, H, ctx),
      ),
      this.table(scores, headLabels, metrics, L, H, picks, ctx),
    );
    this.root.dataset.metric = metric;
    performance.mark("tb-attention:patterns-view-drawn");
  }

  grid(scores, headLabels, metric, L, H, ctx) {
    const values = scores[metric];
    const [lo, hi] = metricRange(values);
    const table = sequentialScale(ctx.theme);
    const grid = el("div", {
      class: "pattern-grid",
      role: "grid",
      style: { gridTemplateColumns: `28px repeat(${H}, 22px)` },
    });
    grid.append(el("span", {}), ...Array.from({ length: H }, (_, h) => el("span", { class: "axis" }, String(h))));
    for (let l = 0; l < L; l++) {
      grid.append(el("span", { class: "axis" }, `L${l}`));
      for (let h = 0; h < H; h++) {
        const v = values[l][h];
        grid.append(
          el("button", {
            type: "button",
            class: "pg-cell",
            dataset: { layer: String(l), head: String(h) },
            title: `layer ${l} head ${h}: ${metric} ${fmt(v)} (${headLabels[l][h].join(", ")})`,
            "aria-label": `layer ${l} head ${h} ${metric} ${fmt(v)}`,
            style: { background: typeof v === "number" ? cssColor(table, v, lo, hi) : "transparent" },
            onclick: () => ctx.openHead(l, h, { head: l * H + h }),
          }),
        );
      }
    }
    return el(
      "figure",
      { class: "pattern-grid-box" },
      el("figcaption", {}, `${metric} by layer \u00d7 head (click: head view)`),
      grid,
    );
  }

  chart(body, bodyB, runB, metric, chosen, H, state) {
    const series = [];
    chosen.forEach((flat, i) => {
      const l = Math.floor(flat / H);
      const h = flat % H;
      const name = headName(l, h);
      series.push({
        name: runB ? `${name} ${state.run}` : name,
        color: seriesColor(i),
        head: flat,
        run: state.run,
        points: headSeries(body, metric, l, h),
      });
      if (bodyB)
        series.push({
          name: `${name} ${runB}`,
          color: seriesColor(i),
          dashed: true,
          head: flat,
          run: runB,
          points: headSeries(bodyB, metric, l, h),
        });
    });
    const threshold = thresholdOf(body.rules, metric);
    this.svgNode = drawChart(series, threshold, "no scores for this head");
    const what =
      chosen.length === 1 ? `Layer ${Math.floor(chosen[0] / H)} head ${chosen[0] % H}` : `${chosen.length} heads`;
    const caption =
      `${what}: ${metric} over steps${runB ? `, ${state.run} (solid) vs ${runB} (dashed)` : ""}` +
      (threshold != null ? ` \u2013 dashed line: threshold ${threshold}` : "") +
      " (tick heads in the table to plot them)";
    return el(
      "figure",
      {
        class: "pattern-chart-box",
        dataset: {
          points: String(series[0].points.length),
          series: String(series.filter((s) => s.points.length).length),
          heads: chosen.join(","),
          runB: runB || "",
        },
      },
      el("figcaption", { style: { maxWidth: "420px" } }, caption),
      this.svgNode,
    );
  }

  formedList(formed, picks, L, H, ctx) {
    const box = el("figure", { class: "formed-box" });
    if (formed.error) {
      box.append(el("figcaption", {}, "Heads that formed"), el("div", { class: "message error" }, formed.error));
      return box;
    }
    const entries = [
      ...formed.formed.map((e) => ({ ...e, change: "formed" })),
      ...formed.lost.map((e) => ({ ...e, change: "lost" })),
    ];
    box.dataset.formed = String(formed.formed.length);
    box.append(el("figcaption", {}, `Heads that formed between steps ${formed.from_step} and ${formed.to_step}`));
    if (!entries.length) {
      box.append(el("div", { class: "message" }, "No head crossed a label's threshold between these steps."));
      return box;
    }
    const plotAll = el(
      "button",
      {
        type: "button",
        class: "chip plot-formed",
        onclick: () =>
          ctx.setState({
            picks: [...new Set(formed.formed.map((e) => e.layer * H + e.head))].slice(0, 12).join(","),
            metric: formed.formed[0].metric,
          }),
      },
      "plot formed heads",
    );
    const rows = entries.map((e) => {
      const flat = e.layer * H + e.head;
      return el(
        "tr",
        {
          class: `clickable${picks.includes(flat) ? " chosen" : ""}`,
          dataset: {
            layer: String(e.layer),
            head: String(e.head),
            label: e.label,
            step: String(e.step),
            change: e.change,
          },
          title: `${e.metric} went from ${fmt(e.score_before)} (step ${e.previous_step}) to ${fmt(e.score_at)} (step ${e.step}); first above at step ${e.first_step}; ${fmt(e.score_final)} at step ${formed.to_step}`,
          onclick: () =>
            ctx.setState({ picks: picks.includes(flat) ? picks.join(",") : togglePick(picks, flat), metric: e.metric }),
        },
        el("td", {}, headName(e.layer, e.head)),
        el("td", {}, e.change === "lost" ? `lost ${e.label}` : e.label),
        el("td", { class: "num" }, String(e.step)),
        el("td", { class: "num" }, `${fmt(e.score_before)} \u2192 ${fmt(e.score_at)}`),
      );
    });
    box.append(
      el(
        "div",
        { class: "table-wrap", style: { maxHeight: "220px", overflowY: "auto" } },
        el(
          "table",
          { class: "formed-list" },
          el(
            "thead",
            {},
            el("tr", {}, el("th", {}, "head"), el("th", {}, "label"), el("th", {}, "step"), el("th", {}, "score")),
          ),
          el("tbody", {}, rows),
        ),
      ),
      plotAll,
    );
    return box;
  }

  table(scores, headLabels, metrics, L, H, picks, ctx) {
    const { state } = ctx;
    const [sortKey, sortDir] = (state.sort || "layer:asc").split(":");
    let rows = [];
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) rows.push({ l, h, labels: headLabels[l][h] });
    }
    if (state.label) rows = rows.filter((r) => r.labels.includes(state.label));
    const value = (r) =>
      sortKey === "layer"
        ? r.l * H + r.h
        : sortKey === "label"
          ? r.labels[0]
          : scores[sortKey] && scores[sortKey][r.l][r.h];
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
      const next =
        active && sortDir === "desc" ? "asc" : active ? "desc" : key === "layer" || key === "label" ? "asc" : "desc";
      return el(
        "th",
        { "aria-sort": active ? (sortDir === "desc" ? "descending" : "ascending") : "none" },
        el(
          "button",
          {
            type: "button",
            class: "sort",
            dataset: { sort: key },
            onclick: () => ctx.setState({ sort: `${key}:${next}` }),
          },
          label,
          active ? (sortDir === "desc" ? " \u25be" : " \u25b4") : "",
        ),
      );
    };
    const tbody = el(
      "tbody",
      {},
      rows.map((r) =>
        el(
          "tr",
          {
            class: `clickable${state.head === r.l * H + r.h ? " chosen" : ""}`,
            dataset: { layer: String(r.l), head: String(r.h) },
            onclick: () => ctx.setState({ head: r.l * H + r.h }),
          },
          el(
            "td",
            {},
            el("input", {
              type: "checkbox",
              class: "plot-head",
              checked: picks.includes(r.l * H + r.h),
              "aria-label": `plot ${headName(r.l, r.h)}`,
              onclick: (e) => e.stopPropagation(),
              onchange: () => ctx.setState({ picks: togglePick(picks, r.l * H + r.h) }),
            }),
          ),
          el(
            "td",
            {},
            el(
              "button",
              {
                type: "button",
                class: "link open-head",
                title: "Open in the head view",
                onclick: (e) => {
                  e.stopPropagation();
                  ctx.openHead(r.l, r.h, { head: r.l * H + r.h });
                },
              },
              headName(r.l, r.h),
            ),
          ),
          el("td", { class: "labels" }, r.labels.join(", ")),
          metrics.map((m) => el("td", { class: "num" }, fmt(scores[m][r.l][r.h]))),
        ),
      ),
    );
    return el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "patterns-table" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", {}, "plot"),
            header("layer", "head"),
            header("label", "labels"),
            metrics.map((m) => header(m, m.replace(/_/g, " "))),
          ),
        ),
        tbody,
      ),
      el("div", { class: "bar-label" }, `${rows.length} of ${L * H} heads`),
    );
  }

  toSVG() {
    return this.svgNode;
  }
}
