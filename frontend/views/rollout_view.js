// Rollout view: attention rollout across layers (Abnar & Zuidema 2020; /rollout and /relevance,
// docs/patterns.md): the token-to-token map of rollout up to the chosen layer, and the relevance
// of each input token for one chosen position, by rollout or attention flow, at this step (bars)
// and over every logged step (a steps x tokens map). Clicking a row of the map picks the position.

import { el, select, svg, tokenLabel, cssVar } from "../dom.js";
import { sequentialScale } from "../colors.js";
import { Heatmap, composeCanvas, composeSVG } from "./heatmap.js";
import { View } from "./view.js";

// How relevance is computed; the server says which inputs a method takes (flow: short ones).
const METHODS = [
  ["rollout", "rollout"],
  ["flow", "attention flow"],
];

/** The default position: the last one for causal models (it sees every token), else the first ([CLS]). */
export function defaultQuery(tokens, causal) {
  return causal ? tokens.length - 1 : 0;
}

/** Whether a rollout map is lower-triangular (every weight above the diagonal 0): a causal model. */
export function isCausal(data, n) {
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (data[i * n + j] > 0) return false;
  return n > 1;
}

/** The largest finite value of `values` (at least `floor`), for a colour scale that shows diffuse maps. */
export function maxOf(values, floor = 1e-6) {
  let hi = floor;
  for (const v of values) if (Number.isFinite(v) && v > hi) hi = v;
  return hi;
}

export class RolloutView extends View {
  constructor(host) {
    super(host, "rollout-view");
    this.maps = []; // the heat maps shown (the rollout, the relevance over steps), for export
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const [L] = meta.shape;
    const layer = Math.min(Math.max(0, state.layer || 0), L - 1);
    if (meta.key_tokens) {
      this.maps = [];
      this.root.replaceChildren(
        el(
          "div",
          { class: "message error" },
          `Rollout needs self-attention: the ${meta.kind} attention of this record goes from one sequence ` +
            "to another. Pick the encoder or decoder attention.",
        ),
      );
      return;
    }
    let rollout;
    try {
      rollout = await ctx.rollout(state.step, layer);
    } catch (e) {
      if (!ctx.current()) return;
      this.maps = [];
      this.root.replaceChildren(el("div", { class: "message error" }, e.message));
      return;
    }
    if (!ctx.current()) return;
    const n = rollout.queries;
    const causal = isCausal(rollout.data, n);
    const q =
      Number.isInteger(Number(state.query)) && state.query !== null && Number(state.query) < n
        ? Number(state.query)
        : defaultQuery(meta.tokens, causal);
    const method = state.method === "flow" ? "flow" : "rollout";
    let relevance;
    try {
      // The server's refusal (e.g. flow on a long input) is shown where the relevance would be.
      relevance = await ctx.relevance({ query: q, layer, method });
    } catch (e) {
      relevance = { error: e.message };
    }
    if (!ctx.current()) return;
    this.draw(ctx, { rollout, layer, q, method, relevance, causal });
    performance.mark("tb-attention:rollout-view-drawn");
  }

  controls(ctx, L, n, layer, q, method) {
    const { meta } = ctx;
    const layerName = (l) => `${meta.layer_ids ? meta.layer_ids[l] : l}`;
    return el(
      "div",
      {
        class: "rollout-bar",
        style: { display: "flex", flexWrap: "wrap", gap: "8px 12px", alignItems: "center", margin: "8px 0" },
      },
      el(
        "label",
        {},
        "Up to layer ",
        select(
          Array.from({ length: L }, (_, l) => [l, layerName(l)]),
          layer,
          (v) => ctx.setState({ layer: Number(v) }),
          { class: "rollout-layer" },
        ),
      ),
      el(
        "label",
        {},
        "Position ",
        select(
          meta.tokens.slice(0, n).map((t, i) => [i, `${i}: ${tokenLabel(t)}`]),
          q,
          (v) => ctx.setState({ query: v }),
          { class: "rollout-query" },
        ),
      ),
      el(
        "label",
        {},
        "Relevance by ",
        select(METHODS, method, (v) => ctx.setState({ method: v }), { class: "rollout-method" }),
      ),
    );
  }

  draw(ctx, { rollout, layer, q, method, relevance, causal }) {
    const { state, meta } = ctx;
    const n = rollout.queries;
    const tokens = meta.tokens.slice(0, n);
    const table = sequentialScale(ctx.theme);
    const map = new Heatmap({
      title: `Rollout up to layer ${layer}, step ${state.step}: how much each position draws on each input token`,
      rowTokens: tokens,
      colTokens: tokens,
      values: rollout.data,
      rows: n,
      cols: n,
      table,
      lo: 0,
      hi: maxOf(rollout.data),
      rowName: "position",
      colName: "input token",
    });
    map.element.classList.add("rollout-map");
    map.overlay.addEventListener("click", (e) => {
      const at = map.cellAt(e);
      if (at) ctx.setState({ query: String(at[0]) });
    });
    this.maps = [map];
    const parts = [this.controls(ctx, meta.shape[0], n, layer, q, method)];
    const note =
      "Heads averaged with the residual added (0.5\u00b7A + 0.5\u00b7I, rows renormalised), " +
      `over the ${meta.shape[1]} stored heads` +
      `${causal ? "; causal model: position i draws only on tokens up to i" : ""}. Click a row to pick the position.`;
    parts.push(el("div", { class: "hint" }, note));
    const row = el(
      "div",
      { class: "rollout-row", style: { display: "flex", flexWrap: "wrap", gap: "16px", alignItems: "flex-start" } },
      map.element,
    );
    parts.push(row);
    let over = null;
    if (relevance.error) {
      row.append(el("div", { class: "message error relevance-error" }, relevance.error));
    } else {
      row.append(this.bars(relevance, state.step, tokens, q));
      over = this.overSteps(relevance, tokens, q, layer, method, table);
      if (over) this.maps.push(over);
    }
    this.root.replaceChildren(...parts);
    if (over) this.root.append(over.element);
    const width = Math.max(240, Math.min(this.host.clientWidth - 24, 640));
    map.draw(width);
    if (over) over.draw(Math.max(240, this.host.clientWidth - 24));
    Object.assign(this.root.dataset, {
      layer: String(layer),
      query: String(q),
      method,
      tokens: String(n),
      causal: String(causal),
    });
  }

  /** SVG bars: relevance of each input token for position q at this step. */
  bars(relevance, step, tokens, q) {
    const index = relevance.steps.indexOf(step);
    const values = index >= 0 ? relevance.relevance[index] : null;
    const box = el(
      "figure",
      { class: "relevance-bars", dataset: { step: String(step) } },
      el(
        "figcaption",
        {},
        `Relevance for position ${q} \u201c${tokenLabel(tokens[q] || "")}\u201d (${relevance.method}), step ${step}`,
      ),
    );
    if (!values) {
      box.append(el("div", { class: "message" }, "no relevance at this step"));
      return box;
    }
    const rowH = 14;
    const W = 320;
    const hi = maxOf(values);
    const root = svg("svg", {
      xmlns: "http://www.w3.org/2000/svg",
      width: W,
      height: rowH * values.length + 4,
      class: "relevance-svg",
    });
    const fg = cssVar("--fg") || "#222";
    values.forEach((v, j) => {
      const y = 2 + j * rowH;
      root.append(
        svg(
          "text",
          { x: 116, y: y + 10, "text-anchor": "end", fill: fg, "font-size": 10 },
          tokenLabel(tokens[j] || "").slice(0, 18),
        ),
      );
      root.append(
        svg("rect", {
          x: 120,
          y: y + 2,
          height: rowH - 4,
          width: Math.max(0, (v / hi) * (W - 170)).toFixed(1),
          fill: cssVar("--accent") || "#f57c00",
          class: "bar",
          "data-key": String(j),
          "data-value": String(v),
        }),
      );
      root.append(svg("text", { x: W - 4, y: y + 10, "text-anchor": "end", fill: fg, "font-size": 10 }, v.toFixed(3)));
    });
    box.append(root);
    box.dataset.bars = String(values.length);
    return box;
  }

  /** A steps x input tokens heat map of the relevance over every logged step (null if none). */
  overSteps(relevance, tokens, q, layer, method, table) {
    const rows = relevance.steps.length;
    if (!rows) return null;
    const n = tokens.length;
    const values = new Float32Array(rows * n); // steps without this position stay 0
    relevance.relevance.forEach((r, i) => {
      if (r && r.length === n) values.set(r, i * n);
    });
    const map = new Heatmap({
      title: `Relevance for position ${q} after layer ${layer} (${method}) over steps`,
      rowTokens: relevance.steps.map((s) => `step ${s}`),
      colTokens: tokens,
      values,
      rows,
      cols: n,
      table,
      lo: 0,
      hi: maxOf(values),
      rowName: "",
      colName: "input token",
    });
    map.element.classList.add("relevance-steps");
    map.element.dataset.steps = String(rows);
    return map;
  }

  toCanvas() {
    return this.maps.length ? composeCanvas(this.maps) : null;
  }

  toSVG() {
    return this.maps.length ? composeSVG(this.maps) : null;
  }
}
