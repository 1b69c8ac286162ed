// Patterns view: head-pattern scores (/patterns, docs/patterns.md) of the current step: a
// layers x heads grid coloured by one metric, a sortable heads x metrics table filterable by
// label (patterns_table.js), the heads that formed during training (/formed,
// patterns_formed.js), and a chart of the chosen heads' metric over every logged step, in this
// run and optionally another one (patterns_chart.js). Clicking a head in the grid (or its name in
// the table) opens it in the head view. Metric names, labels and their rules come from the
// server with the scores.

import { el, select } from "../dom.js";
import { cssColor, sequentialScale } from "../colors.js";
import { drawChart, headBand, headSeries, parsePicks, seriesColor, thresholdOf } from "./patterns_chart.js";
import { formedList } from "./patterns_formed.js";
import { groupsTable } from "./patterns_groups.js";
import { importanceStrip } from "./patterns_importance.js";
import { examplesText, fmt, headName, patternsTable } from "./patterns_table.js";
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

/** The labelling rules as the server states them, for a tooltip: "previous_token: previous_token > 0.5; ...". */
export function ruleText(rules) {
  return rules.thresholds.map((t) => `${t.label}: ${t.metric} > ${t.threshold}`).join("; ");
}

const NO_SCORES =
  "they are computed when a step is logged (by tb_attention.patterns), and this step was logged without them.";

/**
 * What a render shows of a /patterns answer at the selected step (a PatternsPage): the step's
 * scores and labels, the metrics it has, the one shown, the grid size, the other run (runB) and
 * the heads charted; null when the step has no scores.
 */
function patternsPage(ctx, body) {
  const { state } = ctx;
  const index = body.steps.indexOf(state.step);
  const scores = index >= 0 ? body.scores[index] : null;
  if (!scores) return null;
  const metrics = body.rules.metrics.filter((m) => Array.isArray(scores[m]));
  const metric = metrics.includes(state.metric) ? state.metric : metrics[0];
  const L = scores[metric].length;
  const H = L ? scores[metric][0].length : 0;
  const runB = state.runB && state.runB !== state.run && ctx.runHasTag(state.runB, state.tag) ? state.runB : null;
  const picks = parsePicks(state.picks, L * H);
  const chartHead =
    state.head != null && state.head < L * H ? state.head : state.layer * H + (ctx.selectedHeads(H)[0] || 0);
  const chosen = picks.length ? picks : [chartHead];
  const examples = (body.examples || [])[index] || null; // a set of examples: scores are means
  const groups = (body.groups || [])[index] || null; // grouped-query attention: scores by KV head
  const grouped = Boolean(groups) && state.group === "kv";
  const headLabels = body.head_labels[index];
  return { scores, headLabels, metrics, metric, L, H, runB, picks, chosen, examples, groups, grouped };
}

/** The "group by KV head" switch (grouped-query attention: query heads sharing keys). */
function groupToggle(ctx) {
  const box = el("input", {
    type: "checkbox",
    class: "group-kv",
    checked: ctx.state.group === "kv",
    onchange: (e) => ctx.setState({ group: e.target.checked ? "kv" : null }),
  });
  return el(
    "label",
    { title: "Query heads that share a key/value head, their scores averaged" },
    box,
    " Group by KV head",
  );
}

export class PatternsView extends View {
  constructor(host) {
    super(host, "patterns-view");
    this.svgNode = null; // the chart, for SVG export
  }

  async render(ctx) {
    const { state } = ctx;
    const body = await ctx.patterns(state.run, state.tag);
    if (!ctx.current()) return;
    const page = patternsPage(ctx, body);
    if (!page) {
      const text = `No head-pattern scores for step ${state.step}: ${NO_SCORES}`;
      this.root.replaceChildren(el("div", { class: "message" }, text));
      this.svgNode = null;
      return;
    }
    const [formed, bodyB, importance, steps] = await Promise.all([
      ctx.formed().catch((e) => ({ error: e.message })),
      page.runB ? ctx.patterns(page.runB, state.tag).catch(() => null) : null,
      ctx.importance().catch(() => null),
      ctx.steps(state.run, state.tag),
    ]);
    if (!ctx.current()) return;
    const { scores, headLabels, metrics, metric, L, H, runB, picks, chosen, examples, groups, grouped } = page;
    const top = el(
      "div",
      { class: "patterns-top", style: { display: "flex", flexWrap: "wrap", gap: "24px", alignItems: "flex-start" } },
      this.grid(scores, headLabels, metric, L, H, ctx, examples),
      this.chart(body, bodyB, runB, metric, chosen, H, state),
      formedList(ctx, formed, H, picks, grouped),
      importanceStrip(
        ctx,
        importance,
        steps.map((s) => s.step),
      ),
    );
    const table = grouped
      ? groupsTable(ctx, groups, metrics, H)
      : patternsTable(ctx, scores, headLabels, metrics, L, H, picks, examples);
    this.root.replaceChildren(this.controls(ctx, body.rules, metrics, metric, runB, Boolean(groups)), top, table);
    this.root.dataset.metric = metric;
    performance.mark("tb-attention:patterns-view-drawn");
  }

  /** The metric, label filter and other-run selects; "group by KV head" when the record knows the groups. */
  controls(ctx, rules, metrics, metric, runB, hasGroups) {
    const { state } = ctx;
    const others = ctx.runsWithTag(state.tag).filter((r) => r !== state.run);
    const field = (text, options, value, onchange, props) =>
      el("label", {}, text, select(options, value, onchange, props));
    return el(
      "div",
      { class: "patterns-bar" },
      field(
        "Metric ",
        metrics.map((m) => [m, m]),
        metric,
        (v) => ctx.setState({ metric: v }),
        { class: "metric-select" },
      ),
      field(
        "Label ",
        [["", "any"], ...rules.labels.map((l) => [l, l])],
        state.label,
        (v) => ctx.setState({ label: v }),
        {
          class: "label-filter",
          title: ruleText(rules),
        },
      ),
      field(
        "Compare with run ",
        [["", "none"], ...others.map((r) => [r, r])],
        runB || "",
        (v) => ctx.setState({ runB: v || null }),
        { class: "run-b-select" },
      ),
      hasGroups ? groupToggle(ctx) : null,
    );
  }

  grid(scores, headLabels, metric, L, H, ctx, examples) {
    const values = scores[metric];
    const [lo, hi] = metricRange(values);
    const table = sequentialScale(ctx.theme);
    const mean = examples ? `, ${examplesText(examples)}` : "";
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
            title: `layer ${l} head ${h}: ${metric} ${fmt(v)} (${headLabels[l][h].join(", ")})${mean}`,
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
      el("figcaption", {}, `${metric}${mean} by layer \u00d7 head (click: head view)`),
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
        band: headBand(body, metric, l, h),
      });
      if (bodyB)
        series.push({
          name: `${name} ${runB}`,
          color: seriesColor(i),
          dashed: true,
          head: flat,
          run: runB,
          points: headSeries(bodyB, metric, l, h),
          band: headBand(bodyB, metric, l, h),
        });
    });
    const threshold = thresholdOf(body.rules, metric);
    const level = series.some((s) => s.band.length) ? (body.examples.find(Boolean) || {}).level : null;
    this.svgNode = drawChart(series, threshold, "no scores for this head");
    const what =
      chosen.length === 1 ? `Layer ${Math.floor(chosen[0] / H)} head ${chosen[0] % H}` : `${chosen.length} heads`;
    const caption =
      `${what}: ${metric} over steps${runB ? `, ${state.run} (solid) vs ${runB} (dashed)` : ""}` +
      (threshold != null ? ` \u2013 dashed line: threshold ${threshold}` : "") +
      (level != null ? `; shaded: the mean's ${Math.round(level * 100)} % interval over the examples` : "") +
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

  toSVG() {
    return this.svgNode;
  }
}
