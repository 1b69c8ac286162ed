// PNG and SVG exports of the head view: the same lines, tokens and A/B dividers as on screen
// (past 512 rows, the frame on screen: its rows, and lines to keys beyond it ending at its edges).
// Both take what the view shows: {shown (HeadSelection), columns (ColumnLayout), lines
// (HeadLines), hovered ({side, index} or null), thresholds {line, hover, dense}}.

import { svg, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { headColor } from "../colors.js";
import { EDGE_ZONE_PX } from "./head_canvas.js";
import { forEachFramed, lineWidth, strokeFrame, strokeGroups } from "./head_lines.js";

const EXPORT_SCALE = 2; // PNG pixels per CSS pixel: sharp in print

/** Geometry shared by the PNG and SVG exports: what is exported is the frame [top, bottom] of the columns. */
function layout(columns) {
  const colW = Math.max(columns.left.element.offsetWidth, columns.right.element.offsetWidth, 40) + 8;
  const frame = columns.framed && columns.frame ? columns.frame : [0, columns.height];
  return {
    colW,
    frame,
    width: colW * 2 + columns.width,
    height: frame[1] - frame[0] + 8,
    font: `${Math.min(13, columns.rowH - 3)}px sans-serif`,
  };
}

/** The A/B dividers in the frame: [x0, x1, y] per split column. */
function dividers(columns, colW, frame) {
  const out = [];
  const { qAxis, kAxis, width, rowH, gapH } = columns;
  for (const [ax, x0, x1] of [
    [qAxis, 4, colW - 4],
    [kAxis, colW + width + 4, 2 * colW + width - 4],
  ]) {
    const y = ax.gapAt != null ? columns.rowY(ax, ax.gapAt) - (rowH + gapH) / 2 - frame[0] : -1;
    if (y >= 0 && y <= frame[1] - frame[0]) out.push([x0, x1, y]);
  }
  return out;
}

function eachToken({ shown, columns }, { colW, frame }, draw) {
  for (const [side, tokens, ax] of [
    ["left", shown.queryTokens, columns.qAxis],
    ["right", shown.keyTokens, columns.kAxis],
  ]) {
    for (let i = ax.start; i < ax.end; i++) {
      const y = columns.rowY(ax, i) - frame[0];
      if (y < 0 || y > frame[1] - frame[0]) continue;
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
  const box = layout(columns);
  const { colW, width, height, font, frame } = box;
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
  const opts = { width: columns.width, threshold, dense };
  if (columns.framed) strokeFrame(ctx, groups, { ...opts, frame, zone: EDGE_ZONE_PX, height: columns.height });
  else strokeGroups(ctx, groups, opts);
  ctx.restore();
  ctx.font = font;
  ctx.fillStyle = cssVar("--fg") || "#222";
  ctx.textBaseline = "middle";
  eachToken(view, box, (text, x, y, align) => {
    ctx.textAlign = align;
    ctx.fillText(text, x, y);
  });
  ctx.strokeStyle = cssVar("--border") || "#ccc";
  ctx.setLineDash([3, 3]);
  for (const [x0, x1, y] of dividers(columns, colW, frame)) {
    ctx.beginPath();
    ctx.moveTo(x0, y);
    ctx.lineTo(x1, y);
    ctx.stroke();
  }
  return canvas;
}

/** Each line of the export: visit(h, q, k, w, yQuery, yKey) in the frame's y (keys beyond it in its edge zones). */
function eachLine({ columns, lines }, { qRange, kRange, threshold }, frame, visit) {
  const line = [];
  lines.forEachLine(qRange, kRange, threshold, (h, q, k, w) => {
    // One group per line, so each keeps its head, weight and indices through forEachFramed.
    line.push({ head: h, q, k, w, ys: [columns.rowY(columns.qAxis, q), columns.rowY(columns.kAxis, k)] });
  });
  const zone = columns.framed ? EDGE_ZONE_PX : 0;
  const framed = columns.framed ? frame : [-Infinity, Infinity];
  forEachFramed(line, framed, zone, columns.height, (g, yq, yk) =>
    visit(g.head, g.q, g.k, g.w, yq - frame[0], yk - frame[0]),
  );
}

export function headViewSVG(view) {
  const { columns } = view;
  const box = layout(columns);
  const { colW, width, height, font, frame } = box;
  const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}` });
  root.append(svg("rect", { width, height, fill: cssVar("--bg") || "#fff" }));
  const groups = new Map();
  eachLine(view, shownLines(view), frame, (h, q, k, w, y1, y2) => {
    let g = groups.get(h);
    if (!g) {
      g = svg("g", { stroke: headColor(h), "data-head": h });
      groups.set(h, g);
      root.append(g);
    }
    const at = { x1: colW + 2, y1: y1.toFixed(1), x2: colW + columns.width - 2, y2: y2.toFixed(1) };
    const look = { "stroke-opacity": w.toFixed(3), "stroke-width": lineWidth(w, false).toFixed(2) };
    g.append(svg("line", { ...at, ...look, "data-q": q, "data-k": k }));
  });
  // Dividers as paths: every <line> of the export is an attention line.
  for (const [x0, x1, y] of dividers(columns, colW, frame)) {
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
  eachToken(view, box, (label, x, y, align) => {
    text.append(svg("text", { x, y: y.toFixed(1), "text-anchor": align === "right" ? "end" : "start" }, label));
  });
  root.append(text);
  return root;
}
