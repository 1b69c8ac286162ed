// The Patterns view's importance over steps (/importance): a small layers x heads grid per logged
// step, coloured by importance normalised per layer (the server's), the shown step outlined;
// clicking one shows that step. Under it, the shown step's ablation check in words.

import { el, sizeCanvas, cssVar } from "../dom.js";
import { cssColor, sequentialScale } from "../colors.js";
import { ablationText, importanceAt } from "./importance.js";

const CELL = 5; // px per head in the small grids
const MOST = 24; // grids drawn at most: the last ones (the chart holds every step)

function miniGrid(values, table, outlined) {
  const L = values.length;
  const H = L ? values[0].length : 0;
  const canvas = el("canvas", { class: "importance-mini" });
  const g = sizeCanvas(canvas, H * CELL + 2, L * CELL + 2);
  g.fillStyle = outlined ? cssVar("--accent") || "#f57c00" : cssVar("--border") || "#ccc";
  g.fillRect(0, 0, H * CELL + 2, L * CELL + 2);
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++) {
      g.fillStyle = cssColor(table, values[l][h], 0, 1);
      g.fillRect(1 + h * CELL, 1 + l * CELL, CELL, CELL);
    }
  return canvas;
}

/** The figure of an /importance answer, or null when the run logged no importance. */
export function importanceStrip(ctx, body, attentionSteps) {
  if (!body || !body.steps.length) return null;
  const { state } = ctx;
  const table = sequentialScale(ctx.theme);
  const shown = importanceAt(body, state.step);
  const first = Math.max(0, body.steps.length - MOST);
  const grids = body.steps.slice(first).map((step, i) => {
    const clickable = attentionSteps.includes(step);
    return el(
      "button",
      {
        type: "button",
        class: "importance-step chip",
        dataset: { step: String(step) },
        title: clickable ? `step ${step}: show it` : `step ${step} (no attention logged)`,
        disabled: !clickable,
        onclick: () => ctx.setState({ step }),
      },
      miniGrid(body.normalized[first + i], table, shown && shown.step === step),
      el("span", {}, String(step)),
    );
  });
  const caption = `Head importance over steps (tag ${body.tag}; normalised per layer, coloured as the grid above)`;
  return el(
    "figure",
    { class: "importance-box", dataset: { steps: String(body.steps.length), step: shown ? String(shown.step) : "" } },
    el("figcaption", {}, caption),
    el("div", { class: "importance-steps", style: { display: "flex", flexWrap: "wrap", gap: "4px" } }, grids),
    el("div", { class: "bar-label importance-ablation" }, shown ? ablationText(shown.ablation) : ""),
  );
}
