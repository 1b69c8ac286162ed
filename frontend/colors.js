// Colours: one per head (distinct for 16+ heads), and heat-map scales for light and dark themes.

// 20 hues picked to stay apart from each other and readable on white and on near-black.
const HEAD_PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#bcbd22",
  "#7f7f7f",
  "#393b79",
  "#e7ba52",
  "#637939",
  "#ad494a",
  "#a55194",
  "#6b6ecf",
  "#31a354",
  "#3182bd",
  "#e6550d",
  "#843c39",
];

/** Colour of head h; past the palette, hues step by the golden angle so neighbours differ. */
export function headColor(h) {
  if (h < HEAD_PALETTE.length) return HEAD_PALETTE[h];
  const hue = (h * 137.508) % 360;
  return `hsl(${hue.toFixed(1)} 65% ${h % 2 ? 45 : 58}%)`;
}

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** 256-entry RGB lookup table (Uint8Array of 768) through the given colour stops. */
function lut(stops) {
  const rgb = stops.map(hexToRgb);
  const table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (rgb.length - 1);
    const k = Math.min(rgb.length - 2, Math.floor(t));
    const f = t - k;
    for (let c = 0; c < 3; c++) table[3 * i + c] = Math.round(rgb[k][c] + (rgb[k + 1][c] - rgb[k][c]) * f);
  }
  return table;
}

const SEQUENTIAL = {
  light: lut(["#ffffff", "#deebf7", "#9ecae1", "#4292c6", "#08519c", "#08306b"]),
  dark: lut(["#16181d", "#10324f", "#1f6aa5", "#4ba3e3", "#a9dcff", "#f0f9ff"]),
};
const DIVERGING = {
  // B - A: red where attention fell, blue where it grew; white/black at no change.
  light: lut(["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"]),
  dark: lut(["#ff6b6b", "#c4453a", "#5a2420", "#1b1d22", "#1f3f5c", "#3f86c4", "#7cc4ff"]),
};

// How far back a head reads (the matrix view's summary): a table of its own, so tokens of distance
// never read as attention weights.
const SPAN = {
  light: lut(["#fff7ec", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"]),
  dark: lut(["#2a1d14", "#7a3b12", "#d7301f", "#fc8d59", "#fee8c8"]),
};

export function spanScale(theme) {
  return SPAN[theme === "dark" ? "dark" : "light"];
}

export function sequentialScale(theme) {
  return SEQUENTIAL[theme === "dark" ? "dark" : "light"];
}

export function divergingScale(theme) {
  return DIVERGING[theme === "dark" ? "dark" : "light"];
}

/** CSS colour of value in [lo, hi] on a lookup table. */
export function cssColor(table, value, lo = 0, hi = 1) {
  const i = indexOf(value, lo, hi);
  return `rgb(${table[3 * i]},${table[3 * i + 1]},${table[3 * i + 2]})`;
}

export function indexOf(value, lo, hi) {
  if (!(hi > lo) || Number.isNaN(value)) return 0;
  return Math.max(0, Math.min(255, Math.round(((value - lo) / (hi - lo)) * 255)));
}

/**
 * `values` (row-major `rows` x `cols`, from `offset`) pooled to `outRows` x `outCols` by the value
 * farthest from lo (max for weights; for a signed range around 0, the largest |diff|, sign kept),
 * so a thumbnail still shows a sharp peak. Pure: a Float32Array.
 */
export function poolFarthest(values, rows, cols, outRows, outCols, lo, hi, offset = 0) {
  const mid = (lo + hi) / 2;
  const signed = lo < 0;
  // Start from the least extreme value: lo for weights, the middle (no change) for diffs.
  const pooled = new Float32Array(outRows * outCols).fill(signed ? mid : lo);
  for (let r = 0; r < rows; r++) {
    const pr = Math.floor((r * outRows) / rows);
    const base = offset + r * cols;
    for (let c = 0; c < cols; c++) {
      const v = values[base + c];
      const p = pr * outCols + Math.floor((c * outCols) / cols);
      if (signed ? Math.abs(v - mid) > Math.abs(pooled[p] - mid) : v > pooled[p]) pooled[p] = v;
    }
  }
  return pooled;
}

/** RGBA pixels (Uint8ClampedArray-like `px`) of `values` on `table` over [lo, hi]. */
export function paint(px, values, n, table, lo, hi, offset = 0) {
  const scale = 255 / (hi - lo || 1);
  for (let i = 0; i < n; i++) {
    const idx = Math.max(0, Math.min(255, Math.round((values[offset + i] - lo) * scale))) * 3;
    px[4 * i] = table[idx];
    px[4 * i + 1] = table[idx + 1];
    px[4 * i + 2] = table[idx + 2];
    px[4 * i + 3] = 255;
  }
}

/**
 * An offscreen canvas of `rows` x `cols` pixels coloured from `values` (row-major) on `table`,
 * for drawing heat maps scaled up with smoothing off. Larger inputs are max-pooled to
 * `maxRows` x `maxCols` (poolFarthest).
 */
export function heatImage(values, rows, cols, table, lo, hi, maxRows = rows, maxCols = cols, offset = 0) {
  const outRows = Math.max(1, Math.min(rows, maxRows));
  const outCols = Math.max(1, Math.min(cols, maxCols));
  const canvas = document.createElement("canvas");
  canvas.width = outCols;
  canvas.height = outRows;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(outCols, outRows);
  if (outRows === rows && outCols === cols) paint(image.data, values, rows * cols, table, lo, hi, offset);
  else
    paint(
      image.data,
      poolFarthest(values, rows, cols, outRows, outCols, lo, hi, offset),
      outRows * outCols,
      table,
      lo,
      hi,
    );
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// Cells that are not weights, apart from both tables: hidden keys (grey), weights the record does
// not store (NaN from the server: a pale yellow no table holds), and the hatch over cells still
// loading (drawn over whatever coarser level is at hand, so it never reads as a value).
const SPECIAL = {
  light: { hidden: [214, 214, 214], notStored: [236, 224, 140], loading: "rgba(90, 90, 90, 0.45)" },
  dark: { hidden: [78, 78, 78], notStored: [104, 96, 36], loading: "rgba(200, 200, 200, 0.4)" },
};

/** {hidden: rgb, notStored: rgb, loading: css colour} of a theme. */
export function cellColours(theme) {
  return SPECIAL[theme === "dark" ? "dark" : "light"];
}
