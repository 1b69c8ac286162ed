// Zoom and pan of a grid of rows x cols cells in a plot box of w x h CSS pixels: a view is
// {scale (px per cell), x0, y0 (the cell coordinates at the box's top-left corner)}. Pure.

export const MAX_CELL_PX = 48;

/** The whole grid in the box (the zoom "reset"). */
export function fitView(rows, cols, w, h) {
  return { scale: Math.min(w / Math.max(cols, 1), h / Math.max(rows, 1)), x0: 0, y0: 0 };
}

/** Limits of the scale: fit (nothing smaller) to MAX_CELL_PX (or fit, when that is larger). */
export function scaleLimits(rows, cols, w, h) {
  const fit = fitView(rows, cols, w, h).scale;
  return [fit, Math.max(fit, MAX_CELL_PX)];
}

/** `view` with its scale within the limits and its offsets keeping the grid on the box. */
export function clampView(view, rows, cols, w, h) {
  const [lo, hi] = scaleLimits(rows, cols, w, h);
  const scale = Math.min(hi, Math.max(lo, view.scale));
  const clampAxis = (x, n, box) => {
    const shown = box / scale; // cells across the box
    if (shown >= n) return 0; // all of it fits: pinned to the top / left
    return Math.min(n - shown, Math.max(0, x));
  };
  return { scale, x0: clampAxis(view.x0, cols, w), y0: clampAxis(view.y0, rows, h) };
}

/** Zoom by `factor` about the box point (px, py): the cell under it stays under it. */
export function zoomAt(view, factor, px, py, rows, cols, w, h) {
  const [lo, hi] = scaleLimits(rows, cols, w, h);
  const scale = Math.min(hi, Math.max(lo, view.scale * factor));
  const cx = view.x0 + px / view.scale;
  const cy = view.y0 + py / view.scale;
  return clampView({ scale, x0: cx - px / scale, y0: cy - py / scale }, rows, cols, w, h);
}

/** Pan by (dx, dy) box pixels (dragging right shows what is left of the view). */
export function panBy(view, dx, dy, rows, cols, w, h) {
  return clampView(
    { scale: view.scale, x0: view.x0 - dx / view.scale, y0: view.y0 - dy / view.scale },
    rows,
    cols,
    w,
    h,
  );
}

/** Centre the view on cell coordinates (cx, cy). */
export function centreOn(view, cx, cy, rows, cols, w, h) {
  return clampView({ scale: view.scale, x0: cx - w / view.scale / 2, y0: cy - h / view.scale / 2 }, rows, cols, w, h);
}

/** Cells at least partly in the box: {r0, r1, c0, c1} (end exclusive). */
export function visibleCells(view, rows, cols, w, h) {
  return {
    r0: Math.max(0, Math.floor(view.y0)),
    r1: Math.min(rows, Math.ceil(view.y0 + h / view.scale)),
    c0: Math.max(0, Math.floor(view.x0)),
    c1: Math.min(cols, Math.ceil(view.x0 + w / view.scale)),
  };
}

/** The cell [r, c] under box point (px, py), or null off the grid. */
export function cellAt(view, px, py, rows, cols, w, h) {
  if (px < 0 || py < 0 || px >= w || py >= h) return null;
  const c = Math.floor(view.x0 + px / view.scale);
  const r = Math.floor(view.y0 + py / view.scale);
  return r >= 0 && c >= 0 && r < rows && c < cols ? [r, c] : null;
}

/** Box x (or y) of the left (top) edge of cell column (row) `i`. */
export function cellEdge(view, i, axis = "x") {
  return (i - (axis === "x" ? view.x0 : view.y0)) * view.scale;
}

/**
 * The pyramid level to draw at `scale`: the coarsest level 2^L cells per pooled cell that still
 * gives each pooled cell at least one pixel (so max-pooling keeps every peak visible).
 */
export function levelFor(scale, maxLevel) {
  let level = 0;
  while (level < maxLevel && scale * 2 ** level < 1) level++;
  return level;
}

/** Whether two views show the same thing (within a hundredth of a cell). */
export function sameView(a, b) {
  return Math.abs(a.scale - b.scale) < 1e-9 && Math.abs(a.x0 - b.x0) < 0.01 && Math.abs(a.y0 - b.y0) < 0.01;
}
