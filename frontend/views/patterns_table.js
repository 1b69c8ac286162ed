// The Patterns view's table: every head with its labels and its score on each metric, sortable
// by any column and filtered by label; a head's box plots it in the chart, its name opens it. For
// a set of examples the scores are means: the labels say over how many examples, each score's
// tooltip how many define it and its interval (as the server gives them).

import { el } from "../dom.js";
import { togglePick } from "./patterns_chart.js";

/** A score as the tables show it ("–" for a metric undefined for the input, null in JSON). */
export const fmt = (v) => (typeof v === "number" ? v.toFixed(3) : "\u2013");
export const headName = (l, h) => `L${l} H${h}`;

/** The L x H heads {l, h, labels} with `label` (all when ""), sorted by `sort` ("key:dir"). */
export function sortedHeads(scores, headLabels, L, H, label, sort) {
  const [sortKey, sortDir] = (sort || "layer:asc").split(":");
  let rows = [];
  for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) rows.push({ l, h, labels: headLabels[l][h] });
  if (label) rows = rows.filter((r) => r.labels.includes(label));
  const value = (r) =>
    sortKey === "layer"
      ? r.l * H + r.h
      : sortKey === "label"
        ? r.labels[0]
        : scores[sortKey] && scores[sortKey][r.l][r.h];
  return rows.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    if (va == null && vb == null) return 0;
    if (va == null) return 1; // undefined metrics sort last either way
    if (vb == null) return -1;
    const c = va < vb ? -1 : va > vb ? 1 : 0;
    return sortDir === "desc" ? -c : c;
  });
}

/** A column header that sorts by `key` (a click on the sorted one reverses it). */
export function sortHeader(ctx, key, label) {
  const [sortKey, sortDir] = (ctx.state.sort || "layer:asc").split(":");
  const active = key === sortKey;
  const first = key === "layer" || key === "label" ? "asc" : "desc";
  const next = active ? (sortDir === "desc" ? "asc" : "desc") : first;
  const button = el(
    "button",
    { type: "button", class: "sort", dataset: { sort: key }, onclick: () => ctx.setState({ sort: `${key}:${next}` }) },
    label,
    active ? (sortDir === "desc" ? " \u25be" : " \u25b4") : "",
  );
  const ariaSort = active ? (sortDir === "desc" ? "descending" : "ascending") : "none";
  return el("th", { "aria-sort": ariaSort }, button);
}

/** "mean of N examples" for a set of examples (`examples`: /patterns' entry for the step). */
export function examplesText(examples) {
  return examples ? `mean of ${examples.examples} examples` : "";
}

/** A score's tooltip over a set of examples: how many define it, and its interval. */
function scoreTitle(examples, m, l, h) {
  if (!examples || !examples.count[m]) return null;
  const at = (table) => (table[m] && table[m][l] ? table[m][l][h] : null);
  const level = Math.round(examples.level * 100);
  const interval = `${fmt(at(examples.low))} to ${fmt(at(examples.high))}`;
  return `mean of ${at(examples.count)} examples; ${level} % interval ${interval}`;
}

function headRow(ctx, r, H, picks, metrics, scores, examples) {
  const flat = r.l * H + r.h;
  const plot = el("input", {
    type: "checkbox",
    class: "plot-head",
    checked: picks.includes(flat),
    "aria-label": `plot ${headName(r.l, r.h)}`,
    onclick: (e) => e.stopPropagation(),
    onchange: () => ctx.setState({ picks: togglePick(picks, flat) }),
  });
  const open = el(
    "button",
    {
      type: "button",
      class: "link open-head",
      title: "Open in the head view",
      onclick: (e) => {
        e.stopPropagation();
        ctx.openHead(r.l, r.h, { head: flat });
      },
    },
    headName(r.l, r.h),
  );
  return el(
    "tr",
    {
      class: `clickable${ctx.state.head === flat ? " chosen" : ""}`,
      dataset: { layer: String(r.l), head: String(r.h) },
      onclick: () => ctx.setState({ head: flat }),
    },
    el("td", {}, plot),
    el("td", {}, open),
    el(
      "td",
      { class: "labels", title: examples ? `labels of the ${examplesText(examples)}` : null },
      r.labels.join(", "),
    ),
    metrics.map((m) => el("td", { class: "num", title: scoreTitle(examples, m, r.l, r.h) }, fmt(scores[m][r.l][r.h]))),
  );
}

/** The table of the L x H heads' `scores` on `metrics`, with their labels; `picks`: the plotted
 * heads; `examples`: /patterns' statistics of a set of examples at this step, or null. */
export function patternsTable(ctx, scores, headLabels, metrics, L, H, picks, examples) {
  const rows = sortedHeads(scores, headLabels, L, H, ctx.state.label, ctx.state.sort);
  const header = el(
    "tr",
    {},
    el("th", {}, "plot"),
    sortHeader(ctx, "layer", "head"),
    sortHeader(ctx, "label", examples ? `labels (${examplesText(examples)})` : "labels"),
    metrics.map((m) => sortHeader(ctx, m, m.replace(/_/g, " "))),
  );
  const body = el(
    "tbody",
    {},
    rows.map((r) => headRow(ctx, r, H, picks, metrics, scores, examples)),
  );
  const count = `${rows.length} of ${L * H} heads` + (examples ? `; scores and labels: ${examplesText(examples)}` : "");
  return el(
    "div",
    { class: "table-wrap" },
    el("table", { class: "patterns-table" }, el("thead", {}, header), body),
    el("div", { class: "bar-label", dataset: { examples: examples ? String(examples.examples) : "" } }, count),
  );
}
