// The Query/Key view's neuron table (as bertviz's neuron view draws it): the query vector, then
// one row per key with its key vector, its terms scaling·q_c·k_c (q∘k), q·k, the score and the
// softmax beside the stored attention. Vectors are rows of coloured cells, one per shown
// dimension; every number comes from the /qk answer (data-* attributes hold them unrounded).

import { el, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { divergingScale, indexOf } from "../colors.js";
import { extent, floats, pickColumns } from "./qk_dims.js";

const ROW_PX = 14;

/** One row of cells (a vector at the shown dimensions) on a small canvas. */
function cells(values, lo, hi, table, cell, marked) {
  const canvas = el("canvas", { class: "qk-cells" });
  const ctx = sizeCanvas(canvas, values.length * cell, ROW_PX);
  values.forEach((v, i) => {
    const k = indexOf(v, lo, hi);
    ctx.fillStyle = `rgb(${table[3 * k]},${table[3 * k + 1]},${table[3 * k + 2]})`;
    ctx.fillRect(i * cell, 1, cell, ROW_PX - 2);
    if (marked && marked.has(i)) {
      ctx.fillStyle = cssVar("--accent") || "#f57c00";
      ctx.fillRect(i * cell, 0, cell, 2);
    }
  });
  return canvas;
}

/** The dimensions' numbers above their cells (when the cells are wide enough to read them). */
function dimLabels(dims, cell) {
  const canvas = el("canvas", { class: "qk-dims" });
  const ctx = sizeCanvas(canvas, dims.length * cell, ROW_PX);
  ctx.fillStyle = cssVar("--fg-muted") || "#666";
  ctx.font = `${Math.min(9, cell - 1)}px sans-serif`;
  ctx.textAlign = "center";
  dims.forEach((c, i) => ctx.fillText(String(c), (i + 0.5) * cell, ROW_PX - 3, cell));
  return canvas;
}

/** The softmax as a bar, the stored attention as a tick on it. */
function weightBar(weight, stored, width = 90) {
  const canvas = el("canvas", { class: "qk-bar" });
  const ctx = sizeCanvas(canvas, width, ROW_PX);
  ctx.fillStyle = cssVar("--accent") || "#f57c00";
  ctx.fillRect(0, 3, Math.max(0, weight) * width, ROW_PX - 6);
  ctx.fillStyle = cssVar("--fg") || "#222";
  ctx.fillRect(Math.min(width - 1, Math.max(0, stored) * width), 1, 1, ROW_PX - 2);
  return canvas;
}

function fixed(v, digits) {
  return v == null ? "masked" : v.toFixed(digits);
}

/** The header rows: column titles, and the query's own vector. */
function headRows(answer, step, dims, scale, cell, marked, tokens) {
  const q = dims.map((c) => step.q[c]);
  const titles = el(
    "tr",
    {},
    [
      "",
      "key",
      `k (${dims.length} of ${answer.head_dim} dims)`,
      "q\u2218k (scaled)",
      "q\u00b7k",
      "score",
      "softmax",
    ].map((t) => el("th", {}, t)),
    el("th", {}, "stored"),
  );
  const labels = cell >= 10 ? [dimLabels(dims, cell), dimLabels(dims, cell)] : ["", ""];
  const numbers = el(
    "tr",
    { class: "qk-dimrow" },
    el("td", {}, ""),
    el("td", { class: "hint" }, "dimension"),
    labels.map((c) => el("td", {}, c)),
    el("td", { colspan: "4" }, ""),
  );
  const query = el(
    "tr",
    { class: "qk-qrow", dataset: { query: String(answer.query) } },
    el("td", {}, "q"),
    el("td", { class: "qk-token" }, tokenLabel(tokens[answer.query] || "")),
    el("td", {}, cells(q, -scale.vectors, scale.vectors, scale.table, cell, marked)),
    el("td", { colspan: "5", class: "hint" }, "the query vector; below, each key"),
  );
  return [titles, numbers, query];
}

/** One key's row. */
function keyRow(answer, step, j, kRow, tRow, scale, cell, keyTokens) {
  const logit = step.logits[j];
  return el(
    "tr",
    {
      class: `qk-key${logit == null ? " masked" : ""}`,
      dataset: {
        key: String(j),
        dot: String(step.dots[j]),
        logit: logit == null ? "" : String(logit),
        softmax: String(step.weights[j]),
        stored: String(step.stored[j]),
        tolerance: String(step.tolerance[j]),
      },
    },
    el("td", { class: "qk-index" }, String(j)),
    el("td", { class: "qk-token" }, tokenLabel(keyTokens[j] || "")),
    el("td", {}, cells(kRow, -scale.vectors, scale.vectors, scale.table, cell, null)),
    el("td", {}, cells(tRow, -scale.terms, scale.terms, scale.table, cell, null)),
    el("td", { class: "num qk-dot" }, fixed(step.dots[j], 3)),
    el("td", { class: "num qk-logit" }, fixed(logit, 3)),
    el("td", { class: "num qk-softmax" }, step.weights[j].toFixed(4), weightBar(step.weights[j], step.stored[j])),
    el("td", { class: "num qk-stored" }, step.stored[j].toFixed(4)),
  );
}

/**
 * The neuron table of one step of a /qk answer: `dims` the shown dimensions in order, `marked`
 * the positions (in `dims`) to flag on the query's row (the dimensions that changed most),
 * tokens of queries and keys.
 */
export function neuronTable(answer, step, dims, { theme, width, marked, tokens, keyTokens }) {
  const n = answer.keys;
  const d = answer.head_dim;
  const keys = pickColumns(floats(step.keys), n, d, dims);
  const terms = pickColumns(floats(step.terms), n, d, dims);
  const scale = {
    table: divergingScale(theme),
    vectors: Math.max(extent(keys), extent(dims.map((c) => step.q[c]))),
    terms: extent(terms),
  };
  const cell = Math.max(2, Math.min(12, Math.floor((width - 420) / (2 * dims.length))));
  const body = el("tbody", {});
  for (let j = 0; j < n; j++) {
    const row = (values) => values.subarray(j * dims.length, (j + 1) * dims.length);
    body.append(keyRow(answer, step, j, row(keys), row(terms), scale, cell, keyTokens));
  }
  const table = el(
    "table",
    { class: "qk-table", dataset: { step: String(step.step), cell: String(cell) } },
    el("thead", {}, headRows(answer, step, dims, scale, cell, marked, tokens)),
    body,
  );
  return { table, scale };
}
