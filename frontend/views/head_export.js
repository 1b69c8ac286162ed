// PNG and SVG exports of the head view: the same lines, tokens and A/B dividers as on screen.

import { svg, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { headColor } from "../colors.js";
import { forEachLine, lineWidth, strokeGroups } from "./head_lines.js";

const EXPORT_SCALE = 2; // PNG pixels per CSS pixel: sharp in print

/** Geometry shared by the PNG and SVG exports. */
function layout(view) {
  const colW = Math.max(view.left.offsetWidth, view.right.offsetWidth, 40) + 8;
  return {
    colW,
    width: colW * 2 + view.width,
    height: view.height + 8,
    font: `${Math.min(13, view.rowH - 3)}px sans-serif`,
  };
}

/** The A/B dividers: [x0, x1, y] per split column. */
function dividers(view, colW) {
  const out = [];
  for (const [ax, x0, x1] of [
    [view.qAxis, 4, colW - 4],
    [view.kAxis, colW + view.width + 4, 2 * colW + view.width - 4],
  ]) {
    if (ax.gapAt != null) out.push([x0, x1, view.rowY(ax, ax.gapAt) - (view.rowH + view.gapH) / 2]);
  }
  return out;
}

function eachToken(view, colW, draw) {
  for (const [side, tokens, ax] of [
    ["left", view.queryTokens, view.qAxis],
    ["right", view.keyTokens, view.kAxis],
  ]) {
    for (let i = ax.start; i < ax.end; i++) {
      const y = view.rowY(ax, i);
      if (side === "left") draw(tokenLabel(tokens[i]), colW - 6, y, "right");
      else draw(tokenLabel(tokens[i]), colW + view.width + 6, y, "left");
    }
  }
}

/** What the export shows: a hovered token's lines (as on screen), else every line. */
function shownLines(view) {
  const hovered = view.hovered;
  const qRange = hovered && hovered.side === "left" ? [hovered.index, hovered.index + 1] : view.window || view.ranges.q;
  const kRange = hovered && hovered.side === "right" ? [hovered.index, hovered.index + 1] : view.ranges.k;
  return { qRange, kRange, threshold: hovered ? view.thresholds.hover : view.thresholds.line };
}

export function headViewCanvas(view) {
  const { colW, width, height, font } = layout(view);
  const canvas = document.createElement("canvas");
  const ctx = sizeCanvas(canvas, width, height, 64e6, EXPORT_SCALE);
  ctx.fillStyle = cssVar("--bg") || "#fff";
  ctx.fillRect(0, 0, width, height);
  // Lines stroked afresh at the export's scale, not copied from the screen's canvas.
  const { qRange, kRange, threshold } = shownLines(view);
  const { count, groups } = view.collect(qRange, kRange, threshold);
  ctx.save();
  ctx.translate(colW, 0);
  strokeGroups(ctx, groups, { width: view.width, threshold, dense: !view.hovered && count > view.denseLines });
  ctx.restore();
  ctx.font = font;
  ctx.fillStyle = cssVar("--fg") || "#222";
  ctx.textBaseline = "middle";
  eachToken(view, colW, (text, x, y, align) => {
    ctx.textAlign = align;
    ctx.fillText(text, x, y);
  });
  ctx.strokeStyle = cssVar("--border") || "#ccc";
  ctx.setLineDash([3, 3]);
  for (const [x0, x1, y] of dividers(view, colW)) {
    ctx.beginPath();
    ctx.moveTo(x0, y);
    ctx.lineTo(x1, y);
    ctx.stroke();
  }
  return canvas;
}

export function headViewSVG(view) {
  const { colW, width, height, font } = layout(view);
  const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}` });
  root.append(svg("rect", { width, height, fill: cssVar("--bg") || "#fff" }));
  const { qRange, kRange, threshold } = shownLines(view);
  const groups = new Map();
  forEachLine(
    view.layer || { keys: 0, data: [], dataRows: 0 },
    view.heads,
    qRange,
    kRange,
    threshold,
    (h, q, k, w) => {
      let g = groups.get(h);
      if (!g) {
        g = svg("g", { stroke: headColor(h), "data-head": h });
        groups.set(h, g);
        root.append(g);
      }
      g.append(
        svg("line", {
          x1: colW + 2,
          y1: view.rowY(view.qAxis, q).toFixed(1),
          x2: colW + view.width - 2,
          y2: view.rowY(view.kAxis, k).toFixed(1),
          "stroke-opacity": w.toFixed(3),
          "stroke-width": lineWidth(w, false).toFixed(2),
          "data-q": q,
          "data-k": k,
        }),
      );
    },
    view.topk || 0,
  );
  // Dividers as paths: every <line> of the export is an attention line.
  for (const [x0, x1, y] of dividers(view, colW)) {
    root.append(
      svg("path", {
        d: `M${x0} ${y.toFixed(1)}H${x1}`,
        stroke: cssVar("--border") || "#ccc",
        "stroke-dasharray": "3 3",
        class: "sentence-divider",
      }),
    );
  }
  const text = svg("g", { fill: cssVar("--fg") || "#222", style: `font: ${font}`, "dominant-baseline": "middle" });
  eachToken(view, colW, (label, x, y, align) => {
    text.append(svg("text", { x, y: y.toFixed(1), "text-anchor": align === "right" ? "end" : "start" }, label));
  });
  root.append(text);
  return root;
}
