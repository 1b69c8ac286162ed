// Matrix view: one head, or the mean of the selected heads, as a heat map with token labels on
// both axes; hovering a cell reads out query, key and the exact weight.

import { el } from "../dom.js";
import { sequentialScale } from "../colors.js";
import { Heatmap, meanOfHeads, composeCanvas, composeSVG } from "./heatmap.js";
import { View } from "./view.js";

export class MatrixView extends View {
  constructor(host) {
    super(host, "matrix-view");
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const layer = await ctx.layer(state.step, state.layer);
    if (!ctx.current()) return;
    const heads = ctx.selectedHeads(layer.heads);
    const what = heads.length === 1 ? `head ${heads[0]}` : `mean of ${heads.length} heads`;
    this.map = new Heatmap({
      title: `Layer ${state.layer}, ${what}, step ${state.step}`,
      rowTokens: meta.tokens,
      colTokens: meta.key_tokens || meta.tokens,
      values: meanOfHeads(layer, heads),
      rows: layer.queries,
      cols: layer.keys,
      table: sequentialScale(ctx.theme),
      lo: 0,
      hi: 1,
    });
    this.root.replaceChildren(this.map.element);
    this.map.draw(Math.max(240, this.host.clientWidth - 24));
    this.root.dataset.heads = heads.join(",");
    this.root.dataset.layer = String(state.layer);
    performance.mark("tb-attention:matrix-view-drawn");
  }

  toCanvas() {
    return composeCanvas([this.map]);
  }

  toSVG() {
    return composeSVG([this.map]);
  }
}
