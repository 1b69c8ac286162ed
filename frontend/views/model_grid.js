// Where the model view draws each head: a grid of layers x heads, heads that read one KV head
// side by side (grouped-query attention, structure.js) with a gap and a label per group, and
// a column of layer labels saying each windowed layer's window. Pure geometry and label texts;
// model_view.js paints them.

import { kvGroups, layerWindow, hasWindows, windowShort } from "../structure.js";

const LABEL_W = 34; // px: the layer labels' column
const LABEL_W_WINDOWS = 58; // ... when layers carry a window under their number
const GAP = 4; // px between cells
const GROUP_GAP = 12; // px more between two KV groups
const TOP = 18; // px: the head labels' row
const TOP_GROUPS = 34; // px: a KV group row above the head labels

/**
 * Where each head's cell is (a ModelGrid): L x H cells of `cell` px (fitting `width` CSS px),
 * labelled by the model's layer and head numbers (a record may hold a subset of them), heads in
 * KV groups when the part says (`groups`: [{kv, heads, x0, x1}] or null), layers with their window
 * (`windows`: per layer, null for global).
 */
export function modelGrid(L, H, meta, width) {
  const found = kvGroups(meta);
  const groups = found || [{ kv: null, heads: Array.from({ length: H }, (_, h) => h) }];
  const labelW = hasWindows(meta) ? LABEL_W_WINDOWS : LABEL_W;
  const top = found ? TOP_GROUPS : TOP;
  const gaps = (groups.length - 1) * GROUP_GAP;
  const avail = Math.max(300, width - 24);
  const cell = Math.max(24, Math.min(96, Math.floor((avail - labelW - gaps) / Math.max(H, 1)) - GAP));
  const xs = new Array(H).fill(0);
  let x = labelW;
  const placed = groups.map((g, i) => {
    if (i) x += GROUP_GAP;
    const x0 = x;
    for (const h of g.heads) {
      xs[h] = x;
      x += cell + GAP;
    }
    return { ...g, x0, x1: x - GAP };
  });
  return {
    L,
    H,
    cell,
    gap: GAP,
    labelW,
    top,
    width: x,
    height: top + L * (cell + GAP),
    groups: found ? placed : null,
    xs,
    windows: Array.from({ length: L }, (_, l) => layerWindow(meta, l)),
    layerIds: meta.layer_ids || Array.from({ length: L }, (_, l) => l),
    headIds: meta.head_ids || Array.from({ length: H }, (_, h) => h),
    x: (h) => xs[h],
    y: (l) => top + l * (cell + GAP),
    /** [layer, head] at (x, y) CSS px of the canvas, or null. */
    at(px, py) {
      const l = Math.floor((py - top) / (cell + GAP));
      const h = xs.findIndex((hx) => px >= hx && px < hx + cell + GAP);
      return h < 0 || l < 0 || l >= L || py < top ? null : [l, h];
    },
  };
}

/**
 * The labels of a grid: [{text, x, y, align, small, layer}] (x, y: the text's anchor, middle
 * baseline; `layer`: the layer a label names, null for head and group labels).
 */
export function gridLabels(grid) {
  const out = [];
  const headY = grid.groups ? grid.top - 9 : 9;
  for (let h = 0; h < grid.H; h++) {
    out.push({ text: `H${grid.headIds[h]}`, x: grid.x(h) + grid.cell / 2, y: headY, align: "center", layer: null });
  }
  for (const g of grid.groups || []) {
    out.push({ text: `KV ${g.kv}`, x: (g.x0 + g.x1) / 2, y: 8, align: "center", small: true, layer: null });
  }
  for (let l = 0; l < grid.L; l++) {
    const y = grid.y(l) + grid.cell / 2;
    const w = grid.windows[l];
    out.push({ text: `L${grid.layerIds[l]}`, x: grid.labelW - 6, y: w ? y - 6 : y, align: "right", layer: l });
    if (w) out.push({ text: windowShort(w), x: grid.labelW - 6, y: y + 7, align: "right", small: true, layer: l });
  }
  return out;
}

/** The rules of a grid: [[x0, y0, x1, y1]] (a bracket over each KV group, a line between groups). */
export function gridRules(grid) {
  const out = [];
  (grid.groups || []).forEach((g, i) => {
    out.push([g.x0, 16, g.x1, 16]);
    if (i) out.push([g.x0 - GROUP_GAP / 2 - GAP / 2, 4, g.x0 - GROUP_GAP / 2 - GAP / 2, grid.height]);
  });
  return out;
}

/** The read-out's name of a cell: "Layer 3 (window 4096), head 5 (KV head 1)". */
export function cellName(grid, l, h) {
  const w = grid.windows[l];
  const g = grid.groups && grid.groups.find((x) => x.heads.includes(h));
  return (
    `Layer ${grid.layerIds[l]}${w ? ` (sliding window of ${w} tokens)` : ""}, ` +
    `head ${grid.headIds[h]}${g ? ` (reads KV head ${g.kv})` : ""}`
  );
}
