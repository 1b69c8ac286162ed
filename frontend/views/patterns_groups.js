// The Patterns view's table by KV head (grouped-query attention): a row per layer and KV head,
// with the query heads that read it, the group's mean score on each metric and the labels those
// give, as the server computes them (/patterns' `groups`); sortable and filtered like the table
// of heads. Clicking a row plots its query heads in the chart.

import { el } from "../dom.js";
import { fmt, sortHeader, sortedHeads } from "./patterns_table.js";

export const groupName = (l, kv) => `L${l} KV${kv}`;

function groupRow(ctx, r, groups, metrics, H) {
  const members = groups.members[r.h];
  const kv = groups.kv_heads[r.h];
  const flats = members.map((h) => r.l * H + h);
  return el(
    "tr",
    {
      class: "clickable",
      dataset: { layer: String(r.l), kv: String(kv), heads: members.join(",") },
      title: "plot these query heads",
      onclick: () => ctx.setState({ picks: flats.join(",") }),
    },
    el("td", {}, groupName(r.l, kv)),
    el("td", { class: "members" }, members.map((h) => `H${h}`).join(" ")),
    el("td", { class: "labels" }, r.labels.join(", ")),
    metrics.map((m) => el("td", { class: "num" }, fmt(groups.scores[m] ? groups.scores[m][r.l][r.h] : null))),
  );
}

/** The table of `groups` (/patterns' entry for the step) on `metrics`, for heads of H per layer. */
export function groupsTable(ctx, groups, metrics, H) {
  const L = groups.labels.length;
  const G = groups.kv_heads.length;
  const shown = metrics.filter((m) => groups.scores[m]);
  const rows = sortedHeads(groups.scores, groups.labels, L, G, ctx.state.label, ctx.state.sort);
  const header = el(
    "tr",
    {},
    sortHeader(ctx, "layer", "KV head"),
    el("th", {}, "query heads"),
    sortHeader(ctx, "label", "labels (of the group's mean)"),
    shown.map((m) => sortHeader(ctx, m, m.replace(/_/g, " "))),
  );
  const body = el(
    "tbody",
    {},
    rows.map((r) => groupRow(ctx, r, groups, shown, H)),
  );
  return el(
    "div",
    { class: "table-wrap" },
    el("table", { class: "patterns-table groups-table" }, el("thead", {}, header), body),
    el("div", { class: "bar-label" }, `${rows.length} of ${L * G} groups of query heads sharing a KV head`),
  );
}
