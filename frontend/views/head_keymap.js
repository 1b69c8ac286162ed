// Where far-back attention goes, for inputs longer than a screen: in the frame on screen, lines
// to keys scrolled away end at the lines' top or bottom edge (head_lines.js strokeFrame), where an
// edge mark counts them; a strip right of the key column maps every key of the input to the
// frame's height and ticks the key of each line drawn (in its head's colour, as opaque as its
// weight), with a box around the keys on screen. So a query's attention to token 12 of a 32k
// input reads as a line to the top edge and a tick near the top of the strip.

import { el, sizeCanvas, cssVar } from "../dom.js";
import { headColor } from "../colors.js";
import { forEachFramed, groupWeight } from "./head_lines.js";

const STRIP_W = 14;
const EDGE_PX = 3;

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export class KeyMap {
  /** `mid`: the lines' column (edge marks); `ax` the key axis, `height` of the columns (CSS px). */
  constructor(mid, ax, height) {
    Object.assign(this, { ax, height });
    this.canvas = el("canvas", {
      class: "hv-keymap-strip",
      "aria-hidden": "true",
      title: "Every key of the input: a tick where a drawn line goes, the box around the keys on screen",
    });
    this.element = el("div", { class: "hv-keymap" }, this.canvas);
    this.element.style.height = `${height}px`;
    this.above = el("div", { class: "hv-edge hv-edge-above", role: "status" });
    this.below = el("div", { class: "hv-edge hv-edge-below", role: "status" });
    mid.append(this.above, this.below);
    this.g = null;
    this.frameH = 0;
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
    g.fillStyle = cssVar("--panel") || "#f5f5f5";
    g.fillRect(0, 0, STRIP_W, h);
    g.fillStyle = cssVar("--border") || "#ccc";
    g.fillRect(0, top * scale, STRIP_W, Math.max(2, (bottom - top) * scale));
    forEachFramed(groups || [], frame, EDGE_PX, (group, _yq, _yk, _side, yTrue) => {
      g.fillStyle = headColor(group.head);
      g.globalAlpha = Math.min(1, 0.25 + groupWeight(group));
      g.fillRect(0, Math.min(h - 1, yTrue * scale), STRIP_W, 1);
    });
    g.globalAlpha = 1;
    this.edges(frame, counts);
  }

  /** The edge marks: how many lines end at the frame's top and bottom edges. */
  edges([top, bottom], { above, below }) {
    this.above.hidden = !above;
    this.below.hidden = !below;
    this.above.style.top = `${top}px`;
    this.below.style.top = `${bottom}px`;
    this.above.textContent = `\u25b2 ${plural(above, "line goes", "lines go")} to keys above`;
    this.below.textContent = `\u25bc ${plural(below, "line goes", "lines go")} to keys below`;
    this.above.dataset.lines = String(above);
    this.below.dataset.lines = String(below);
  }
}
