// The colour legend of a heat map: the scale's colours as a bar, its ticks as text, and what it
// maps (e.g. "weight, log scale").

import { el, svg, sizeCanvas, cssVar } from "../dom.js";
import { SCALE_LABELS, ticks } from "../scales.js";
import { cellColours } from "../colors.js";

const BAR_W = 170;
const BAR_H = 10;

function barColours(table, scale, width) {
  // Sample the table along the bar; a tick sits where its value's colour is.
  const out = [];
  for (let x = 0; x < width; x++) {
    const i = Math.round((x / (width - 1)) * 255);
    out.push(`rgb(${table[3 * i]},${table[3 * i + 1]},${table[3 * i + 2]})`);
  }
  return out;
}

/** A legend element for `scale` (scales.js) on lookup table `table`; `what` names the values. */
export function legend(scale, table, what = "weight") {
  const bar = el("canvas", { class: "legend-bar", "aria-hidden": "true" });
  const g = sizeCanvas(bar, BAR_W, BAR_H);
  barColours(table, scale, BAR_W).forEach((c, x) => {
    g.fillStyle = c;
    g.fillRect(x, 0, 1, BAR_H);
  });
  g.strokeStyle = cssVar("--border") || "#ccc";
  g.strokeRect(0.5, 0.5, BAR_W - 1, BAR_H - 1);
  const marks = ticks(scale);
  const labels = el(
    "div",
    { class: "legend-ticks", style: { width: `${BAR_W}px` } },
    marks.map((t) => el("span", { class: "legend-tick", style: { left: `${(t.at * 100).toFixed(1)}%` } }, t.label)),
  );
  return el(
    "div",
    { class: "legend", dataset: { scale: scale.kind, lo: String(scale.lo), hi: String(scale.hi) } },
    el("div", { class: "legend-title" }, `${what}, ${SCALE_LABELS[scale.kind]} scale`),
    bar,
    labels,
  );
}

/**
 * Swatches of the cells that are not weights, those a map may show: `which` {hidden, notStored,
 * loading} (colors.js cellColours).
 */
export function cellKeys(theme, which) {
  const colours = cellColours(theme);
  const swatch = (style, text, name) =>
    el("div", { class: `legend-key key-${name}` }, el("span", { class: "legend-swatch", style }), text);
  const rgb = (c) => `rgb(${c.join(",")})`;
  return el(
    "div",
    { class: "legend legend-keys" },
    which.notStored ? swatch({ background: rgb(colours.notStored) }, "not stored", "not-stored") : null,
    which.hidden ? swatch({ background: rgb(colours.hidden) }, "hidden key", "hidden") : null,
    which.loading
      ? swatch(
          { background: `repeating-linear-gradient(135deg, ${colours.loading} 0 2px, transparent 2px 5px)` },
          "loading",
          "loading",
        )
      : null,
  );
}

/** The legend as an SVG group at (x, y), for exports. */
export function legendSVG(scale, table, x, y, what = "weight") {
  const g = svg("g", { transform: `translate(${x},${y})`, class: "legend" });
  g.append(
    svg(
      "text",
      { x: 0, y: 10, style: "font: 11px sans-serif", fill: cssVar("--fg-muted") || "#666" },
      `${what}, ${SCALE_LABELS[scale.kind]} scale`,
    ),
  );
  barColours(table, scale, BAR_W).forEach((c, i) =>
    g.append(svg("rect", { x: i, y: 14, width: 1.05, height: BAR_H, fill: c })),
  );
  for (const t of ticks(scale)) {
    g.append(
      svg(
        "text",
        {
          x: (t.at * (BAR_W - 1)).toFixed(1),
          y: 14 + BAR_H + 11,
          "text-anchor": "middle",
          style: "font: 10px sans-serif",
          fill: cssVar("--fg-muted") || "#666",
        },
        t.label,
      ),
    );
  }
  return g;
}
