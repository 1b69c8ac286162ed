// Token labels on the axes of the heat maps (heatmap.js, zoom_map.js): how wide a label may be,
// from what cell size labels are drawn, cutting a label to fit, and drawing them on a canvas or
// as SVG text (exports), with the cells as one image.

import { svg, tokenLabel, cssVar } from "../dom.js";

export const MAX_LABEL = 130; // px: longer tokens are cut on the axes (the read-out shows them whole)
export const MIN_LABELLED_CELL = 8; // px: smaller cells get no axis labels
export const FONT_PX = 11;

/** `text` cut (with an ellipsis) to at most `max` px in the canvas context's font. */
export function fitText(ctx, text, max = MAX_LABEL) {
  if (ctx.measureText(text).width <= max) return text;
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}\u2026`).width > max) s = s.slice(0, -1);
  return `${s}\u2026`;
}

let probe = null;

/** Width (CSS px) of the widest of `labels` as drawn, between 10 and MAX_LABEL. */
export function labelWidth(labels) {
  if (!probe) probe = document.createElement("canvas").getContext("2d");
  probe.font = `${FONT_PX}px sans-serif`;
  let w = 10;
  for (const t of labels) w = Math.max(w, probe.measureText(tokenLabel(t)).width);
  return Math.min(MAX_LABEL, w);
}

/** Label gutters {left, top} (CSS px) that fit these row and column labels. */
export function labelMargins(rowLabels, colLabels) {
  return { left: Math.ceil(labelWidth(rowLabels)) + 8, top: Math.ceil(labelWidth(colLabels) * 0.75) + 10 };
}

/**
 * Draw row labels right-aligned left of `left` and column labels slanted above `top`. `spec`:
 * {font (px), left, top, rows: [r0, r1], cols: [c0, c1], rowY(r), colX(c) (null: not drawn),
 * rowText(r), colText(c)}.
 */
export function drawAxisLabels(g, spec) {
  g.fillStyle = cssVar("--fg") || "#222";
  g.font = `${spec.font}px sans-serif`;
  g.textBaseline = "middle";
  g.textAlign = "right";
  for (let r = spec.rows[0]; r < spec.rows[1]; r++) {
    const y = spec.rowY(r);
    if (y != null) g.fillText(spec.rowText(r), spec.left - 4, y);
  }
  g.textAlign = "left";
  for (let c = spec.cols[0]; c < spec.cols[1]; c++) {
    const x = spec.colX(c);
    if (x == null) continue;
    g.save();
    g.translate(x, spec.top - 4);
    g.rotate(-Math.PI / 3);
    g.fillText(spec.colText(c), 0, 0);
    g.restore();
  }
}

function svgLabels({ font, left, top, rows, cols, rowY, colX, rowLabels, colLabels }) {
  const labels = svg("g", { fill: cssVar("--fg") || "#222", style: `font: ${font}px sans-serif` });
  for (let r = rows[0]; r < rows[1]; r++) {
    const attrs = { x: left - 4, y: (rowY(r) + 4).toFixed(1), "text-anchor": "end" };
    labels.append(svg("text", attrs, tokenLabel(rowLabels[r])));
  }
  for (let c = cols[0]; c < cols[1]; c++) {
    const attrs = { transform: `translate(${colX(c).toFixed(1)},${top - 4}) rotate(-60)` };
    labels.append(svg("text", attrs, tokenLabel(colLabels[c])));
  }
  return labels;
}

/**
 * A heat map as an SVG group at (x, y): its title, the cells as one image (`image`: {x, y,
 * width, height, href}) and, unless `labels` is null, the token labels (drawAxisLabels' spec
 * with rowLabels and colLabels instead of rowText and colText).
 */
export function mapSVGGroup(x, y, title, image, labels) {
  const g = svg("g", { transform: `translate(${x},${y})` });
  const titleStyle = { x: 0, y: 12, style: "font: 600 12px sans-serif", fill: cssVar("--fg") || "#222" };
  g.append(svg("text", titleStyle, title));
  const body = svg("g", { transform: "translate(0,18)" });
  body.append(svg("image", { ...image, preserveAspectRatio: "none", style: "image-rendering: pixelated" }));
  if (labels) body.append(svgLabels(labels));
  g.append(body);
  return g;
}
