// The Patterns view's chart: one metric of several heads over the logged steps, in one or two
// runs (the second dashed), with the metric's label threshold as a dashed line and, for a set of
// examples, each head's confidence interval as a shaded band around its mean. The series logic
// is pure (tested with node); drawing uses dom.svg only (token and run names stay text).

import { svg, cssVar } from "../dom.js";
import { headColor } from "../colors.js";

/** Flat head indices from the URL's "picks" text ("3,17"), valid for L x H heads, at most 12. */
export function parsePicks(text, count) {
  if (typeof text !== "string" || !/^\d{1,6}(,\d{1,6})*$/.test(text)) return [];
  return [...new Set(text.split(",").map(Number))].filter((h) => h < count).slice(0, 12);
}

/** The picks with `flat` added, or removed if it was there, as URL text ("" when none are left). */
export function togglePick(picks, flat) {
  const next = picks.includes(flat) ? picks.filter((h) => h !== flat) : [...picks, flat];
  return next.join(",");
}

/** [[step, value]] of head (l, h)'s `metric` over a /patterns answer (steps without it skipped). */
export function headSeries(body, metric, l, h) {
  const points = [];
  body.steps.forEach((step, i) => {
    const s = body.scores[i];
    const v = s && s[metric] && s[metric][l] ? s[metric][l][h] : null;
    if (typeof v === "number") points.push([step, v]);
  });
  return points;
}

/** [[step, low, high]] of head (l, h)'s interval on `metric` over a /patterns answer: the steps
 * of a set of examples whose bounds the server gives (others skipped). */
export function headBand(body, metric, l, h) {
  const band = [];
  (body.examples || []).forEach((e, i) => {
    const at = (bound) => (e && e[bound][metric] && e[bound][metric][l] ? e[bound][metric][l][h] : null);
    const lo = at("low");
    const hi = at("high");
    if (typeof lo === "number" && typeof hi === "number") band.push([body.steps[i], lo, hi]);
  });
  return band;
}

/** The threshold a label puts on `metric` (the first rule naming it), or null. */
export function thresholdOf(rules, metric) {
  const rule = rules && rules.thresholds.find((t) => t.metric === metric);
  return rule ? rule.threshold : null;
}

/** {x0, x1, y0, y1}: a range holding every point and band, 0..1 at least, and the threshold. */
export function chartRange(seriesList, threshold) {
  const xs = [];
  const ys = [0, 1];
  for (const s of seriesList) {
    for (const [x, y] of s.points) {
      xs.push(x);
      ys.push(y);
    }
    for (const [x, lo, hi] of s.band || []) {
      xs.push(x);
      ys.push(lo, hi);
    }
  }
  if (threshold != null) ys.push(threshold);
  return { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
}

const W = 420;
const HEIGHT = 190;
const PAD = { l: 42, r: 10, t: 10, b: 40 };

/** The axes: a line each, the value range's ends and the first and last step. */
function drawAxes(root, { x0, x1, y0, y1 }, sy) {
  const muted = cssVar("--fg-muted") || "#777";
  const small = { fill: muted, "font-size": 10 };
  root.append(svg("line", { x1: PAD.l, y1: HEIGHT - PAD.b, x2: W - PAD.r, y2: HEIGHT - PAD.b, stroke: muted }));
  root.append(svg("line", { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: HEIGHT - PAD.b, stroke: muted }));
  for (const y of [y0, y1])
    root.append(svg("text", { x: PAD.l - 4, y: sy(y) + 4, "text-anchor": "end", ...small }, y.toFixed(2)));
  root.append(svg("text", { x: PAD.l, y: HEIGHT - PAD.b + 14, ...small }, `step ${x0}`));
  root.append(svg("text", { x: W - PAD.r, y: HEIGHT - PAD.b + 14, "text-anchor": "end", ...small }, `step ${x1}`));
}

function drawThreshold(root, y) {
  const line = { class: "threshold", x1: PAD.l, x2: W - PAD.r, y1: y, y2: y };
  root.append(svg("line", { ...line, stroke: cssVar("--fg-muted") || "#777", "stroke-dasharray": "2 3" }));
}

/** Each series' band (its interval at each step) as one closed path under the lines: the upper
 * bounds left to right, then the lower ones back; a one-step band is a vertical stroke. */
function drawBands(root, drawn, sx, sy) {
  for (const s of drawn) {
    if (!s.band || !s.band.length) continue;
    const upper = s.band.map(([x, , hi]) => `${sx(x).toFixed(1)},${sy(hi).toFixed(1)}`);
    const lower = s.band.map(([x, lo]) => `${sx(x).toFixed(1)},${sy(lo).toFixed(1)}`).reverse();
    root.append(
      svg("path", {
        d: `M${upper.join("L")}L${lower.join("L")}Z`,
        class: "band",
        fill: s.color,
        "fill-opacity": 0.2,
        stroke: s.color,
        "stroke-opacity": 0.35,
        "stroke-width": 1,
        "data-head": String(s.head),
        "data-run": s.run,
        "data-steps": String(s.band.length),
      }),
    );
  }
}

/** Each series as a polyline with its points, and its name in a legend that wraps; returns the chart's height. */
function drawSeries(root, drawn, sx, sy) {
  let legendX = PAD.l;
  let legendY = HEIGHT - 8;
  for (const s of drawn) {
    const width = 8 + 6 * s.name.length;
    if (legendX > PAD.l && legendX + width > W) {
      // wrap the legend: the chart grows a row
      legendX = PAD.l;
      legendY += 12;
    }
    const line = svg("polyline", {
      points: s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" "),
      fill: "none",
      stroke: s.color,
      "stroke-width": 2,
      "stroke-dasharray": s.dashed ? "5 3" : null,
      class: "series",
      "data-head": String(s.head),
      "data-run": s.run,
      "data-points": String(s.points.length),
    });
    root.append(line);
    for (const [x, y] of s.points)
      root.append(svg("circle", { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 2.5, fill: s.color }));
    root.append(svg("text", { x: legendX, y: legendY, fill: s.color, "font-size": 10 }, s.name));
    legendX += width;
  }
  return legendY + 8;
}

/**
 * An <svg> of `seriesList` ([{name, color, dashed, points, head, run, band}]) over steps; `band`
 * ([[step, low, high]], optional) is shaded. Each line carries data-head / data-run / data-points.
 */
export function drawChart(seriesList, threshold, emptyText) {
  const root = svg("svg", {
    xmlns: "http://www.w3.org/2000/svg",
    width: W,
    height: HEIGHT,
    viewBox: `0 0 ${W} ${HEIGHT}`,
    class: "pattern-chart",
  });
  const drawn = seriesList.filter((s) => s.points.length);
  if (!drawn.length) {
    const middle = { x: W / 2, y: HEIGHT / 2, "text-anchor": "middle", fill: cssVar("--fg") || "#222" };
    root.append(svg("text", middle, emptyText));
    return root;
  }
  const range = chartRange(drawn, threshold);
  const { x0, x1, y0, y1 } = range;
  const plotW = W - PAD.l - PAD.r;
  const sx = (x) => PAD.l + (x1 > x0 ? ((x - x0) / (x1 - x0)) * plotW : plotW / 2);
  const sy = (y) => HEIGHT - PAD.b - ((y - y0) / (y1 - y0 || 1)) * (HEIGHT - PAD.t - PAD.b);
  drawAxes(root, range, sy);
  if (threshold != null) drawThreshold(root, sy(threshold));
  drawBands(root, drawn, sx, sy);
  const height = drawSeries(root, drawn, sx, sy);
  root.setAttribute("height", String(height));
  root.setAttribute("viewBox", `0 0 ${W} ${height}`);
  return root;
}

/** Colour of the i-th chosen head (the same in both runs). */
export function seriesColor(i) {
  return headColor(i);
}
