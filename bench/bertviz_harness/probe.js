// Timing probe that bench/render.py adds to every page before any of the page's own scripts run
// (playwright add_init_script), after `window.__benchConfig = {mode: "ours" | "bertviz"}`.
//
// window.__benchResult, in ms since navigation start (performance.timeOrigin):
//   drawn:   the head view is on screen. Ours: the "tb-attention:head-view-drawn" mark the panel sets
//            once every line in the visible part is stroked (a tall 512-token canvas is drawn in
//            bands, visible ones first). bertviz: the moment its
//            <g id="attention"> exists; d3 appends every <line> of the layer (heads x n x n) and sets
//            their opacity in that same task, so no script can observe the group half-built.
//   painted: the end of the first frame after `drawn`: a requestAnimationFrame callback, then a task
//            queued from it, which runs once that frame's style, layout, paint and commit are done on
//            the main thread (rasterisation happens off the main thread and is not included).
//   complete, completePainted (ours only): the "tb-attention:head-view-complete" mark (every band
//            drawn, the whole canvas, scrolled-away parts included) and the end of the next frame.
//            For bertviz these equal drawn / painted: it builds everything at once.
// Both sides are timed the same way; the only difference is how `drawn` is detected: ours by
// wrapping performance.mark (exact), bertviz by polling every 4 ms (its build is one long task, so
// the first poll after it is at most a few ms late).
(() => {
  const cfg = window.__benchConfig || {};
  const result = (window.__benchResult = { drawn: null, painted: null, complete: null, completePainted: null });

  const afterNextFrame = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));

  function onDrawn(t) {
    if (result.drawn != null) return; // first full paint only
    result.drawn = t;
    afterNextFrame(() => {
      result.painted = performance.now();
    });
  }

  if (cfg.mode === "ours") {
    const mark = performance.mark.bind(performance);
    performance.mark = function (name, options) {
      const entry = mark(name, options);
      const t = entry ? entry.startTime : performance.now();
      if (name === "tb-attention:head-view-drawn") onDrawn(t);
      if (name === "tb-attention:head-view-complete" && result.complete == null) {
        result.complete = t;
        afterNextFrame(() => {
          result.completePainted = performance.now();
        });
      }
      return entry;
    };
  } else {
    const timer = setInterval(() => {
      const now = performance.now();
      if (document.getElementById("attention")) {
        clearInterval(timer);
        onDrawn(now);
      }
    }, 4);
  }

  // Hover timed identically for both: dispatch a bubbling mouseover on one token element, then
  // `handler` = the synchronous event handling, `frame` = until the next frame is painted.
  window.__benchHover = (selector, index) =>
    new Promise((resolve, reject) => {
      const target = document.querySelectorAll(selector)[index];
      if (!target) {
        reject(new Error(`no element ${selector} #${index}`));
        return;
      }
      const start = performance.now();
      target.dispatchEvent(new MouseEvent("mouseover", { bubbles: true, view: window }));
      const handled = performance.now();
      afterNextFrame(() => resolve({ handler: handled - start, frame: performance.now() - start }));
    });
})();
