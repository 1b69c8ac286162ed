// The Patterns view's list of the heads that formed (or lost a label) during training (/formed):
// a row per head and label, clicking one plots it; one button plots every formed head. Grouped
// by KV head (grouped-query attention), the rows of each layer's KV head come together under a
// heading, with the KV head each head reads as the server names it.

import { el } from "../dom.js";
import { togglePick } from "./patterns_chart.js";
import { fmt, headName } from "./patterns_table.js";

const PLOTTED = 12; // heads "plot formed heads" puts in the chart at most

function formedRow(ctx, e, H, picks, toStep, grouped) {
  const flat = e.layer * H + e.head;
  const title =
    `${e.metric} went from ${fmt(e.score_before)} (step ${e.previous_step}) to ${fmt(e.score_at)} ` +
    `(step ${e.step}); first above at step ${e.first_step}; ${fmt(e.score_final)} at step ${toStep}`;
  const picked = picks.includes(flat);
  return el(
    "tr",
    {
      class: `clickable${picked ? " chosen" : ""}`,
      dataset: {
        layer: String(e.layer),
        head: String(e.head),
        label: e.label,
        step: String(e.step),
        change: e.change,
        kv: e.kv_head != null ? String(e.kv_head) : "",
      },
      title,
      onclick: () => ctx.setState({ picks: picked ? picks.join(",") : togglePick(picks, flat), metric: e.metric }),
    },
    grouped ? el("td", { class: "num" }, String(e.kv_head)) : null,
    el("td", {}, headName(e.layer, e.head)),
    el("td", {}, e.change === "lost" ? `lost ${e.label}` : e.label),
    el("td", { class: "num" }, String(e.step)),
    el("td", { class: "num" }, `${fmt(e.score_before)} \u2192 ${fmt(e.score_at)}`),
  );
}

function plotAllButton(ctx, formed, H) {
  const heads = [...new Set(formed.formed.map((e) => e.layer * H + e.head))].slice(0, PLOTTED);
  return el(
    "button",
    {
      type: "button",
      class: "chip plot-formed",
      onclick: () => ctx.setState({ picks: heads.join(","), metric: formed.formed[0].metric }),
    },
    "plot formed heads",
  );
}

/** The entries by layer and KV head (then step and head), each group under a heading row. */
function groupedRows(ctx, entries, H, picks, toStep) {
  const order = (e) => [e.layer, e.kv_head, e.step, e.head];
  const sorted = [...entries].sort((a, b) => {
    const x = order(a);
    const y = order(b);
    const i = x.findIndex((v, k) => v !== y[k]);
    return i < 0 ? 0 : x[i] - y[i];
  });
  const rows = [];
  let last = null;
  for (const e of sorted) {
    const key = `L${e.layer} KV${e.kv_head}`;
    if (key !== last) rows.push(el("tr", { class: "group-row" }, el("th", { colspan: 5 }, key)));
    last = key;
    rows.push(formedRow(ctx, e, H, picks, toStep, true));
  }
  return rows;
}

/** The list of a /formed answer (or {error}) for heads of H per layer; `picks`: the plotted heads;
 * `grouped`: by KV head, when the server names each head's. */
export function formedList(ctx, formed, H, picks, grouped = false) {
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
  const byKv = grouped && entries.some((e) => e.kv_head != null);
  const names = (byKv ? ["KV"] : []).concat(["head", "label", "step", "score"]);
  const header = el("tr", {}, ...names.map((t) => el("th", {}, t)));
  const rows = byKv
    ? groupedRows(ctx, entries, H, picks, formed.to_step)
    : entries.map((e) => formedRow(ctx, e, H, picks, formed.to_step, false));
  const table = el("table", { class: "formed-list" }, el("thead", {}, header), el("tbody", {}, rows));
  box.append(
    el("div", { class: "table-wrap", style: { maxHeight: "220px", overflowY: "auto" } }, table),
    plotAllButton(ctx, formed, H),
  );
  return box;
}
