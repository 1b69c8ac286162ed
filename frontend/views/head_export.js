// PNG and SVG exports of the head view: the same lines, tokens and A/B dividers as on screen.
// Both take what the view shows: {shown (HeadSelection), columns (ColumnLayout), lines
// (HeadLines), hovered ({side, index} or null), thresholds {line, hover, dense}}.

import { svg, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { headColor } from "../colors.js";
import { forEachLine, lineWidth, strokeGroups } from "./head_lines.js";

const EXPORT_SCALE = 2; // PNG pixels per CSS pixel: sharp in print

/** Geometry shared by the PNG and SVG exports. */
function layout(columns) {
  const colW = Math.max(columns.left.offsetWidth, columns.right.offsetWidth, 40) + 8;
  return {
    colW,
    width: colW * 2 + columns.width,
    height: columns.height + 8,
    font: `${Math.min(13, columns.rowH - 3)}px sans-serif`,
  };
}

/** The A/B dividers: [x0, x1, y] per split column. */
function dividers(columns, colW) {
  const out = [];
  const { qAxis, kAxis, width, rowH, gapH } = columns;
  for (const [ax, x0, x1] of [
    [qAxis, 4, colW - 4],
    [kAxis, colW + width + 4, 2 * colW + width - 4],
  ]) {
    if (ax.gapAt != null) out.push([x0, x1, columns.rowY(ax, ax.gapAt) - (rowH + gapH) / 2]);
  }
  return out;
}

function eachToken({ shown, columns }, colW, draw) {
  for (const [side, tokens, ax] of [
    ["left", shown.queryTokens, columns.qAxis],
    ["right", shown.keyTokens, columns.kAxis],
  ]) {
    for (let i = ax.start; i < ax.end; i++) {
      const y = columns.rowY(ax, i);
      if (side === "left") draw(tokenLabel(tokens[i]), colW - 6, y, "right");
      else draw(tokenLabel(tokens[i]), colW + columns.width + 6, y, "left");
    }
  }
}

/** What the export shows: a hovered token's lines (as on screen), else every line. */
function shownLines({ shown, hovered, thresholds }) {
  const qRange = hovered && hovered.side === "left" ? [hovered.index, hovered.index + 1] : shown.window;
  const kRange = hovered && hovered.side === "right" ? [hovered.index, hovered.index + 1] : shown.ranges.k;
  return { qRange, kRange, threshold: hovered ? thresholds.hover : thresholds.line };
}

export function headViewCanvas(view) {
  const { columns, lines } = view;
  const { colW, width, height, font } = layout(columns);
  const canvas = document.createElement("canvas");
  const ctx = sizeCanvas(canvas, width, height, 64e6, EXPORT_SCALE);
  ctx.fillStyle = cssVar("--bg") || "#fff";
  ctx.fillRect(0, 0, width, height);
  // Lines stroked afresh at the export's scale, not copied from the screen's canvas.
  const { qRange, kRange, threshold } = shownLines(view);
  const { count, groups } = lines.collect(qRange, kRange, threshold, columns);
  ctx.save();
  ctx.translate(colW, 0);
  const dense = !view.hovered && count > view.thresholds.dense;
  strokeGroups(ctx, groups, { width: columns.width, threshold, dense });
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
  for (const [x0, x1, y] of dividers(columns, colW)) {
    ctx.beginPath();
    ctx.moveTo(x0, y);
    ctx.lineTo(x1, y);
    ctx.stroke();
  }
  return canvas;
}

export function headViewSVG(view) {
  const { columns, lines, shown } = view;
  const { colW, width, height, font } = layout(columns);
  const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}` });
  root.append(svg("rect", { width, height, fill: cssVar("--bg") || "#fff" }));
  const { qRange, kRange, threshold } = shownLines(view);
  const groups = new Map();
  forEachLine(
    lines.slab || { keys: 0, data: [], dataRows: 0 },
    shown.heads,
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
          y1: columns.rowY(columns.qAxis, q).toFixed(1),
          x2: colW + columns.width - 2,
          y2: columns.rowY(columns.kAxis, k).toFixed(1),
          "stroke-opacity": w.toFixed(3),
          "stroke-width": lineWidth(w, false).toFixed(2),
          "data-q": q,
          "data-k": k,
        }),
      );
    },
    shown.topk,
  );
  // Dividers as paths: every <line> of the export is an attention line.
  for (const [x0, x1, y] of dividers(columns, colW)) {
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
