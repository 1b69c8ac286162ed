// Query/Key view: why one head attends where it does (bertviz's neuron view, for any model whose
// record keeps its queries and keys): pick a query token and see its vector, each key's vector,
// their per-dimension terms, q·k, the scores and the softmax beside the stored attention; compare
// the same head at another step to see which dimensions changed. Every number comes from /qk.

import { el, select, tokenLabel } from "../dom.js";
import { ORDERS, SHOWN, defaultQuery, shownDims, vectorNotes } from "./qk_dims.js";
import { neuronTable } from "./qk_table.js";
import { qkCanvas } from "./qk_export.js";
import { View } from "./view.js";

const CHIPS_UP_TO = 128; // tokens shown as clickable chips (a select beyond)
const CHANGED_LISTED = 8;

export class QKView extends View {
  constructor(host) {
    super(host, "qk-view");
    this.order = "contribution";
    this.shown = "all";
  }

  message(text, kind = "") {
    this.root.replaceChildren(el("div", { class: `message ${kind}`.trim() }, text));
    delete this.root.dataset.query;
  }

  /** The head shown: the first selected head that keeps its queries and keys. */
  head(ctx, qk) {
    const H = ctx.meta.shape[1];
    const kept = qk.heads || Array.from({ length: H }, (_, h) => h);
    return ctx.selectedHeads(H).find((h) => kept.includes(h)) ?? kept[0];
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const qk = meta.qk;
    if (!qk) {
      this.message(
        "This record keeps no queries or keys. Log with qk=True (tb_attention.capture, AttentionCallback, " +
          "ProbeLogger) or add_attention(..., queries=, keys=) to see why a head attends where it does.",
      );
      return;
    }
    if (!qk.layers.includes(state.layer)) {
      const names = qk.layers.map((l) => (meta.layer_ids ? meta.layer_ids[l] : l));
      this.message(`This layer keeps no queries or keys; layers that do: ${names.join(", ")}.`, "warn");
      return;
    }
    const n = meta.shape[2];
    const query = Number.isInteger(Number(state.query)) && state.query !== null && Number(state.query) < n;
    const q = query ? Number(state.query) : defaultQuery(n, meta.causal);
    const head = this.head(ctx, qk);
    const stepB = state.stepB != null && state.stepB !== state.step ? state.stepB : null;
    let answer;
    try {
      answer = await ctx.qk({ step: state.step, layer: state.layer, head, query: q, step_b: stepB });
    } catch (e) {
      if (!ctx.current()) return;
      this.message(e.message, "error");
      return;
    }
    if (!ctx.current()) return;
    this.steps = await ctx.steps(state.run, state.tag);
    if (!ctx.current()) return;
    this.ctx = ctx;
    this.answer = answer;
    this.draw();
    performance.mark("tb-attention:qk-view-drawn");
  }

  controls() {
    const { ctx, answer } = this;
    const tokens = ctx.meta.tokens;
    const others = this.steps.filter((s) => s.step !== ctx.state.step).map((s) => [s.step, `step ${s.step}`]);
    const orders = ORDERS.filter(([name]) => name !== "change" || answer.changed);
    const bar = el(
      "div",
      { class: "qk-bar-controls" },
      el(
        "label",
        { class: "field" },
        "Query ",
        select(
          tokens.map((t, i) => [i, `${i}: ${tokenLabel(t)}`]),
          answer.query,
          (v) => ctx.setState({ query: v }),
          { class: "qk-query-select" },
        ),
      ),
      el(
        "label",
        { class: "field" },
        "Dimensions ",
        select(orders, this.order, (v) => this.redraw({ order: v }), { class: "qk-order" }),
        select(SHOWN, this.shown, (v) => this.redraw({ shown: v }), { class: "qk-shown" }),
      ),
      el(
        "label",
        { class: "field" },
        "Compare with ",
        select(
          [["", "no other step"], ...others],
          answer.b ? answer.b.step : "",
          (v) => ctx.setState({ stepB: v === "" ? null : Number(v) }),
          { class: "qk-step-b" },
        ),
      ),
    );
    if (tokens.length > CHIPS_UP_TO) return [bar];
    const chips = el(
      "div",
      { class: "qk-queries" },
      tokens.map((t, i) =>
        el(
          "button",
          {
            type: "button",
            class: `qk-query${i === answer.query ? " chosen" : ""}`,
            dataset: { index: String(i) },
            onclick: () => ctx.setState({ query: String(i) }),
          },
          tokenLabel(t),
        ),
      ),
    );
    return [bar, chips];
  }

  redraw(patch) {
    Object.assign(this, patch);
    this.draw();
  }

  /** The dimensions that changed most against step B, with their change. */
  changedList(dims) {
    const { answer } = this;
    const items = answer.changed
      .slice(0, CHANGED_LISTED)
      .map((c) =>
        el(
          "li",
          { dataset: { dim: String(c), change: String(answer.change[c]) } },
          `dim ${c}: ${answer.change[c].toPrecision(3)}${dims.includes(c) ? "" : " (not shown)"}`,
        ),
      );
    return el(
      "div",
      { class: "qk-changed-box" },
      el(
        "div",
        { class: "hint" },
        `Dimensions whose terms changed most from step ${answer.a.step} to ${answer.b.step}`,
      ),
      el("ol", { class: "qk-changed" }, items),
    );
  }

  draw() {
    const { ctx, answer } = this;
    const dims = shownDims(answer, this.order, this.shown);
    const top = answer.changed ? new Set(answer.changed.slice(0, CHANGED_LISTED)) : null;
    const marked = top ? new Set(dims.map((c, i) => (top.has(c) ? i : -1)).filter((i) => i >= 0)) : null;
    const options = {
      theme: ctx.theme,
      width: Math.max(600, this.host.clientWidth - 24),
      marked,
      tokens: ctx.meta.tokens,
      keyTokens: ctx.meta.key_tokens || ctx.meta.tokens,
    };
    const title =
      `Layer ${answer.model_layer}, head ${answer.model_head}` +
      `${answer.kv_head != null ? ` (KV head ${answer.kv_head})` : ""}, query ${answer.query} ` +
      `\u201c${tokenLabel(ctx.meta.tokens[answer.query] || "")}\u201d, step ${answer.a.step}`;
    const parts = [...this.controls(), el("h3", { class: "qk-title" }, title)];
    parts.push(...vectorNotes(answer).map((t) => el("div", { class: "hint qk-note" }, t)));
    if (answer.b) parts.push(this.changedList(dims));
    parts.push(neuronTable(answer, answer.a, dims, options).table);
    if (answer.b) {
      const other = neuronTable(answer, answer.b, dims, options).table;
      parts.push(
        el("details", { class: "qk-step-b-table", open: true }, el("summary", {}, `Step ${answer.b.step}`), other),
      );
    }
    this.root.replaceChildren(...parts);
    Object.assign(this.root.dataset, {
      layer: String(answer.layer),
      head: String(answer.head),
      query: String(answer.query),
      step: String(answer.a.step),
      stepB: answer.b ? String(answer.b.step) : "",
      dims: dims.join(","),
      rotary: String(answer.rotary),
      changed: answer.changed ? answer.changed.slice(0, CHANGED_LISTED).join(",") : "",
    });
  }

  toCanvas() {
    return qkCanvas(this.root);
  }
}
