// The compare view's list of the heads that changed most between A and B (/change: the
// Jensen-Shannon divergence of each head's rows), each row opening its head.

import { el } from "../dom.js";

const SHOWN = 12; // heads listed
const BAR_PX = 80; // the largest divergence's bar

/** The panel, saying it is loading until showChange fills it. */
export function changePanel() {
  return el(
    "div",
    { class: "change-panel" },
    el("h3", {}, "Heads that changed most (Jensen-Shannon divergence, nats)"),
    el("div", { class: "message" }, "Loading\u2026"),
  );
}

function changeTable(ctx, ranking) {
  const top = ranking.slice(0, SHOWN);
  const max = Math.max(...top.map((r) => r.js), 1e-9);
  const row = (r) =>
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
      el("td", {}, el("span", { class: "bar", style: { width: `${Math.round((BAR_PX * r.js) / max)}px` } })),
    );
  const header = el("tr", {}, ...["layer", "head", "JS", ""].map((t) => el("th", {}, t)));
  return el("table", { class: "change-table" }, el("thead", {}, header), el("tbody", {}, top.map(row)));
}

/** Fetch how each head changed from A (the selection) to B (`runB` at `stepB`) into `panel`. */
export async function showChange(ctx, panel, runB, stepB) {
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
  panel.lastChild.replaceWith(changeTable(ctx, body.ranking));
}
