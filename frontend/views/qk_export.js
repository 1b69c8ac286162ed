// The Query/Key view as one canvas for PNG export: each table row as shown (its text, and its
// vectors' canvases drawn as they are).

import { cssVar, sizeCanvas } from "../dom.js";

const ROW_PX = 16;
const PAD = 12;

/** One table's rows laid out left to right: text cells as text, canvases as drawn. */
function rowItems(table) {
  return Array.from(table.querySelectorAll("tr")).map((tr) =>
    Array.from(tr.children).map((td) => ({
      width: td.getBoundingClientRect().width,
      text: Array.from(td.childNodes)
        .filter((n) => n.nodeType === 3)
        .map((n) => n.textContent)
        .join(""),
      canvases: Array.from(td.querySelectorAll("canvas")),
    })),
  );
}

/** A canvas of the view's title, notes and tables (null when nothing is drawn). */
export function qkCanvas(root) {
  const tables = Array.from(root.querySelectorAll(".qk-table"));
  if (!tables.length) return null;
  const heads = Array.from(root.querySelectorAll(".qk-title, .qk-note")).map((e) => e.textContent);
  const rows = tables.flatMap((t) => [...rowItems(t), []]);
  const width = Math.max(...tables.map((t) => t.getBoundingClientRect().width)) + 2 * PAD;
  const height = (heads.length + rows.length) * ROW_PX + 2 * PAD;
  const canvas = document.createElement("canvas");
  const ctx = sizeCanvas(canvas, width, height, Infinity, 2);
  ctx.fillStyle = cssVar("--bg") || "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = cssVar("--fg") || "#222";
  ctx.font = "12px sans-serif";
  let y = PAD;
  for (const text of heads) {
    ctx.fillText(text, PAD, y + 12);
    y += ROW_PX;
  }
  for (const cells of rows) {
    let x = PAD;
    for (const cell of cells) {
      let at = x;
      if (cell.text) ctx.fillText(cell.text, at, y + 12, cell.width);
      for (const c of cell.canvases) {
        const w = c.getBoundingClientRect().width;
        ctx.drawImage(c, at + (cell.text ? ctx.measureText(cell.text).width + 4 : 0), y, w, ROW_PX - 2);
        at += w;
      }
      x += cell.width;
    }
    y += ROW_PX;
  }
  return canvas;
}
