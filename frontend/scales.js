// Colour scales of heat maps: linear, square root and log over [lo, hi] (and a signed square
// root about 0, for differences), the lookup-table index of a value on each, legend ticks, and
// painting pixels. Pure functions.

export const SCALES = ["linear", "sqrt", "log"];
export const SCALE_LABELS = { linear: "linear", sqrt: "square root", log: "log", "signed-sqrt": "signed square root" };
export const LOG_FLOOR_MIN = 1e-6; // the lowest floor of a log scale

/** The default scale: linear for short inputs (weights are large), log for long ones. */
export function defaultScale(keys) {
  return keys > 256 ? "log" : "linear";
}

/**
 * The lower end of a log scale for `values`: the power of ten at or below the smallest positive
 * value (at least 1e-6, at most hi / 10).
 */
export function logFloor(values, hi = 1) {
  let min = Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v > 0 && v < min) min = v;
  }
  if (!Number.isFinite(min)) min = hi / 100;
  const floor = 10 ** Math.floor(Math.log10(Math.max(min, LOG_FLOOR_MIN)));
  return Math.min(floor, hi / 10);
}

/**
 * A scale: {kind, lo, hi, index(v) -> 0..255}. Linear is exactly colors.js's mapping (so a cell
 * reads as cssColor(table, v, lo, hi)); sqrt maps sqrt((v - lo) / (hi - lo)); log maps log10(v)
 * between log10(floor) and log10(hi), values at or below `floor` (and 0) to the bottom.
 */
export function makeScale(kind, lo = 0, hi = 1, floor = 1e-4) {
  const span = hi - lo || 1;
  if (kind === "sqrt") {
    return { kind, lo, hi, index: (v) => (v > lo ? Math.min(255, Math.round(Math.sqrt((v - lo) / span) * 255)) : 0) };
  }
  if (kind === "signed-sqrt") {
    // Differences of weights shown on a root or log scale: a change of 0.01 stays visible beside
    // one of 0.5, and the sign is the colour's side of the diverging table.
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const index = (v) => {
      const f = Math.sqrt(Math.min(1, Math.abs(v) / m));
      return v === v ? Math.round(127.5 + (v < 0 ? -f : f) * 127.5) : 128;
    };
    return { kind, lo: -m, hi: m, index };
  }
  if (kind === "log") {
    const l0 = Math.log10(floor);
    const k = 255 / (Math.log10(hi) - l0 || 1);
    return {
      kind,
      lo: floor,
      hi,
      floor,
      index: (v) => (v > floor ? Math.min(255, Math.round((Math.log10(v) - l0) * k)) : 0),
    };
  }
  const k = 255 / span;
  const index = (v) => {
    const i = Math.round((v - lo) * k);
    return i > 0 ? (i < 255 ? i : 255) : 0; // NaN reads as the bottom
  };
  return { kind: "linear", lo, hi, index };
}

/** Where a value falls on the scale, 0..1 (for legends and tests). */
export function position(scale, v) {
  return scale.index(v) / 255;
}

/** Legend ticks [{value, at (0..1), label}] of a scale. */
export function ticks(scale) {
  const out = [];
  if (scale.kind === "log") {
    const top = Math.log10(scale.hi);
    const bottom = Math.log10(scale.floor);
    const stride = Math.max(1, Math.ceil((top - bottom) / 4));
    for (let e = Math.ceil(bottom); e <= top + 1e-9; e += stride) out.push(10 ** e);
    if (out[out.length - 1] < scale.hi * 0.999) out.push(scale.hi);
  } else if (scale.kind === "signed-sqrt") {
    for (const f of [-1, -0.25, 0, 0.25, 1]) out.push(scale.hi * f);
  } else if (scale.kind === "sqrt") {
    // Evenly spaced on screen is quadratic in value: these read well and stay apart.
    for (const f of [0, 0.1, 0.25, 0.5, 1]) out.push(scale.lo + (scale.hi - scale.lo) * f);
  } else {
    for (let i = 0; i <= 4; i++) out.push(scale.lo + ((scale.hi - scale.lo) * i) / 4);
  }
  return out.map((value) => ({ value, at: position(scale, value), label: tickLabel(value) }));
}

export function tickLabel(v) {
  if (v === 0) return "0";
  if (v < 0) return `\u2212${tickLabel(-v)}`;
  if (v < 0.01) return v.toExponential(0).replace("e-", "e\u2212");
  return String(Number(v.toPrecision(2)));
}

/**
 * RGBA pixels of `values` (rows x cols, row-major) on lookup table `table` through `scale`;
 * columns whose `colMask` entry is set are painted `maskRGB` instead (hidden keys), and with
 * `nanRGB`, NaN values (weights a record does not store) in that colour, never as a weight.
 */
export function paintScaled(
  px,
  values,
  rows,
  cols,
  table,
  scale,
  colMask = null,
  maskRGB = [200, 200, 200],
  nanRGB = null,
) {
  const index = scale.index;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      const o = 4 * (base + c);
      const v = values[base + c];
      const rgb = colMask && colMask[c] ? maskRGB : v !== v && nanRGB ? nanRGB : null;
      if (rgb) {
        px[o] = rgb[0];
        px[o + 1] = rgb[1];
        px[o + 2] = rgb[2];
      } else {
        const t = 3 * index(v);
        px[o] = table[t];
        px[o + 1] = table[t + 1];
        px[o + 2] = table[t + 2];
      }
      px[o + 3] = 255;
    }
  }
}
