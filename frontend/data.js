// What the panel reads from the server, and the one place it is cached: every fetch of the app
// and its views goes through a PanelData (the views through their context, views/README.md).
// JSON answers (/steps, /patterns, /change, /relevance, /formed) change when steps are added:
// every refresh, the background poll's too, drops them. Arrays of one step (/layer, /rollout)
// change only when that step is logged again: a refresh the user asks for drops them as well.
// Tiles (/tile) are kept within a byte budget, however long the record.

import { fetchLayer, fetchRollout, fetchTile, LayerCache, PromiseCache, streamThumbnails } from "./api.js";
import { TileCache } from "./tiles.js";

const ROLLOUTS_KEPT = 48; // rollouts of 1024 tokens are 4 MB each

export class PanelData {
  constructor() {
    this.answers = new PromiseCache();
    this.layers = new LayerCache();
    this.rollouts = new PromiseCache(ROLLOUTS_KEPT);
    this.tiles = new TileCache();
  }

  /** A JSON route's answer (docs/http_api.md), cached until the next refresh. */
  json(route, params) {
    return this.answers.json(route, params);
  }

  /** The steps of a (run, tag) as /steps lists them. */
  steps(run, tag) {
    return this.json("steps", { run, tag }).then((body) => body.steps);
  }

  /**
   * A layer, or a selection of it (api.js fetchLayer's `opts`), cached within a memory budget;
   * with `once: true` fetched without caching (a view that keeps only what it reads of it).
   */
  layer(run, tag, step, layer, kind, opts = {}) {
    const { once = false, ...selection } = opts;
    if (once) return fetchLayer(run, tag, step, layer, kind, selection);
    return this.layers.get(run, tag, step, layer, kind, selection);
  }

  /**
   * A region of a layer at a zoom factor (api.js fetchTile's `region`), cached within a byte
   * budget: {promise, release} (tiles.js TileCache: release() aborts a fetch nobody waits for).
   */
  tile(run, tag, step, layer, kind, region) {
    const key = JSON.stringify([run, tag, step, layer, kind, region]);
    return this.tiles.get(key, (signal) => fetchTile(run, tag, step, layer, kind, region, signal));
  }

  /** Rollout of one step up to `layer`: {queries, keys, data}. */
  rollout(run, tag, step, layer, kind) {
    const key = JSON.stringify([run, tag, step, layer, kind]);
    return this.rollouts.get(key, () => fetchRollout(run, tag, step, layer, kind));
  }

  /** Every head's thumbnail as the bytes arrive (api.js streamThumbnails; not cached). */
  streamThumbnails(run, tag, step, kind, onLayer) {
    return streamThumbnails(run, tag, step, kind, onLayer);
  }

  /** Drop the JSON answers; with `everything`, the layers and rollouts too. */
  clear(everything) {
    this.answers.clear();
    if (!everything) return;
    this.layers.clear();
    this.rollouts.clear();
    this.tiles.clear();
  }
}
