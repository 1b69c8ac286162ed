// The head view's base layer, painted in horizontal bands. At 512 tokens the canvas is ~6000 px
// tall and the lines of 12 heads can cover ~10^8 pixel rows; rasterising them all (software
// raster, as in headless or GPU-less browsers) takes seconds whichever way they are stroked. So a
// canvas taller than SINGLE_PASS_PX is painted in bands, each pass clipped to its bands: the bands
// on screen first, the others one per task afterwards, nearest first so scrolling finds them ready
// ("tb-attention:head-view-complete" and data-bands="complete" once all are); scrolling onto an
// undrawn band draws it at once.

const BAND_PX = 256; // height of a band: one band is well under a frame's worth of raster
const SINGLE_PASS_PX = 2048; // canvases up to this tall (~128 tokens) are drawn in one pass

export class BandPainter {
  /** draw(band or null): stroke the lines of [top, bottom) (null: the whole canvas, no clip). */
  constructor({ height, draw, visibleRange, root }) {
    this.height = height;
    this.draw = draw;
    this.visibleRange = visibleRange; // () => [top, bottom) in canvas px, on screen
    this.root = root;
    this.count = Math.ceil(height / BAND_PX);
    this.pending = new Set(Array.from({ length: this.count }, (_, i) => i));
    this.timer = null;
    root.dataset.bands = "partial";
  }

  /** Paint what is on screen now (all of a short canvas) and schedule the rest. */
  start() {
    if (this.height <= SINGLE_PASS_PX) this.drawBands(0, this.count - 1);
    else this.drawVisible();
    this.schedule();
  }

  /** Draw the pending bands among [first, last]; each run of adjacent ones in one clipped pass. */
  drawBands(first, last) {
    let i = first;
    while (this.pending && i <= last) {
      if (!this.pending.has(i)) {
        i++;
        continue;
      }
      let j = i;
      while (j < last && this.pending.has(j + 1)) j++;
      for (let b = i; b <= j; b++) this.pending.delete(b);
      const band = [i * BAND_PX, Math.min(this.height, (j + 1) * BAND_PX)];
      this.draw(band[0] === 0 && band[1] >= this.height ? null : band);
      i = j + 1;
    }
    if (this.pending && !this.pending.size) {
      this.pending = null;
      this.root.dataset.bands = "complete";
      performance.mark("tb-attention:head-view-complete");
    }
  }

  /** Band indices [first, last] on screen. */
  visibleBands() {
    const [top, bottom] = this.visibleRange();
    return [Math.max(0, Math.floor(top / BAND_PX)), Math.min(this.count - 1, Math.floor(bottom / BAND_PX))];
  }

  drawVisible() {
    if (!this.pending) return;
    const [first, last] = this.visibleBands();
    this.drawBands(first, last);
  }

  schedule() {
    if (!this.pending) return;
    this.timer = setTimeout(() => {
      if (!this.pending) return;
      // Nearest to what is on screen first: the likeliest to be scrolled to.
      const [first, last] = this.visibleBands();
      let best = -1;
      let bestDistance = Infinity;
      for (const i of this.pending) {
        const d = i < first ? first - i : i > last ? i - last : 0;
        if (d < bestDistance) [best, bestDistance] = [i, d];
      }
      this.drawBands(best, best);
      this.schedule();
    }, 0);
  }

  cancel() {
    clearTimeout(this.timer);
    this.pending = null;
  }
}
