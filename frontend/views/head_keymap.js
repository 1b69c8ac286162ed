// Where far-back attention goes, for inputs longer than a screen: in the frame on screen, lines
// to keys scrolled away end in a thin zone at the lines' top or bottom edge, keys in their order
// (head_lines.js forEachFramed), and an edge mark beside the strip counts them; the strip, right
// of the key column, maps every key of the input to the frame's height and ticks the key of each
// line drawn (in its head's colour, as opaque as its weight), with a box around the keys on
// screen. So a query's attention to token 12 of a 32k input reads as a line into the top edge
// and a tick near the top of the strip.

import { el, sizeCanvas, cssVar } from "../dom.js";
import { headColor } from "../colors.js";
import { EDGE_ZONE_PX } from "./head_canvas.js";
import { forEachFramed, groupWeight } from "./head_lines.js";

const STRIP_W = 14;

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export class KeyMap {
  /**
   * `ax`: the key axis, `height` of the columns (CSS px), `rowOf(y)`: the key row at canvas y,
   * `centre(k)`: the y of key row k's centre (a key is beyond the frame when its centre is).
   */
  constructor(ax, height, rowOf, centre) {
    Object.assign(this, { ax, height, rowOf, centre });
    this.canvas = el("canvas", {
      class: "hv-keymap-strip",
      "aria-hidden": "true",
      title: "Every key of the input: a tick where a drawn line goes, the box around the keys on screen",
    });
    this.above = el("div", { class: "hv-edge hv-edge-above", role: "status" });
    this.below = el("div", { class: "hv-edge hv-edge-below", role: "status" });
    this.element = el("div", { class: "hv-keymap" }, this.canvas, this.above, this.below);
    this.element.style.height = `${height}px`;
    this.g = null;
    this.frameH = 0;
    this.readColours();
  }

  /** The theme's colours, read once per render (reading them while scrolling would force a style pass). */
  readColours() {
    this.colours = { panel: cssVar("--panel") || "#f5f5f5", box: cssVar("--fg-muted") || "#666" };
  }

  /** Draw the strip for `frame` [top, bottom] (canvas y) and the lines `groups` drawn there. */
  draw(frame, groups, counts) {
    const [top, bottom] = frame;
    const h = Math.max(1, Math.ceil(bottom - top));
    if (!this.g || h !== this.frameH) {
      this.g = sizeCanvas(this.canvas, STRIP_W, h);
      this.frameH = h;
    }
    this.canvas.style.top = `${top}px`;
    const g = this.g;
    const scale = h / Math.max(1, this.height);
    g.clearRect(0, 0, STRIP_W, h);
    g.fillStyle = this.colours.panel;
    g.fillRect(0, 0, STRIP_W, h);
    forEachFramed(groups || [], frame, EDGE_ZONE_PX, this.height, (group, _yq, _yk, _side, yTrue) => {
      g.fillStyle = headColor(group.head);
      g.globalAlpha = Math.min(1, 0.25 + groupWeight(group));
      g.fillRect(0, Math.min(h - 1, yTrue * scale), STRIP_W, 1);
    });
    g.globalAlpha = 1;
    // The keys on screen: a box over the ticks.
    g.strokeStyle = this.colours.box;
    g.lineWidth = 1;
    g.strokeRect(0.5, top * scale, STRIP_W - 1, Math.max(2, (bottom - top) * scale));
    this.edges(frame, counts);
  }

  /** The edge marks: how many lines end in the frame's top and bottom zones, and to which keys. */
  edges([top, bottom], { above, below }) {
    this.above.hidden = !above;
    this.below.hidden = !below;
    this.above.style.top = `${top}px`;
    this.below.style.top = `${bottom}px`;
    let first = this.rowOf(top);
    if (this.centre(first) < top) first++;
    let last = this.rowOf(bottom);
    if (this.centre(last) > bottom) last--;
    const range = (a, b) => (a === b ? `key ${a}` : `keys ${a}\u2013${b}`);
    this.above.textContent = `\u25b2 ${plural(above, "line", "lines")} (dashed) to ${range(this.ax.start, first - 1)}`;
    this.below.textContent = `\u25bc ${plural(below, "line", "lines")} (dashed) to ${range(last + 1, this.ax.end - 1)}`;
    this.above.dataset.lines = String(above);
    this.below.dataset.lines = String(below);
  }
}
