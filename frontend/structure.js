// The model's structure as /steps describes a part (docs/http_api.md, format-3 records): which
// KV head each stored query head reads (grouped-query attention), each stored layer's sliding
// window, and the words the panel shows for them. Pure: the toolbar, the model view and the head
// view read them from here. Parts without these fields (older formats, eager records) have none.

/** A number as it reads in labels: 4096 -> "4 096". */
function grouped(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
}

/**
 * The query heads grouped by the KV head they read: [{kv, heads: [stored head index...]}] in the
 * order of each group's first head (heads within a group in stored order), or null when the part
 * does not say (`kv_heads` null: not recorded, or not grouped-query attention).
 */
export function kvGroups(meta) {
  const ids = meta && meta.kv_heads;
  if (!Array.isArray(ids) || !ids.length) return null;
  const groups = new Map();
  ids.forEach((kv, h) => {
    if (!groups.has(kv)) groups.set(kv, []);
    groups.get(kv).push(h);
  });
  return [...groups].map(([kv, heads]) => ({ kv, heads }));
}

/** The sliding window of stored layer `l` (tokens), or null for a global layer or when not recorded. */
export function layerWindow(meta, l) {
  const w = meta && Array.isArray(meta.windows) ? meta.windows[l] : null;
  return Number.isInteger(w) && w > 0 ? w : null;
}

/** Whether any stored layer of the part has a sliding window. */
export function hasWindows(meta) {
  return Boolean(meta && Array.isArray(meta.windows) && meta.windows.some((w) => Number.isInteger(w) && w > 0));
}

/**
 * The window a row of layer `l` is read against: the layer's own, or, for a global layer of a
 * model whose other layers are windowed, the smallest of theirs (how much of a global layer's
 * row stays within what a windowed layer sees). {size, own} or null.
 */
export function readoutWindow(meta, l) {
  const own = layerWindow(meta, l);
  if (own) return { size: own, own: true };
  if (!hasWindows(meta) || meta.causal === false) return null;
  const sizes = meta.windows.filter((w) => Number.isInteger(w) && w > 0);
  return { size: Math.min(...sizes), own: false };
}

/** The layer selector's label of stored layer `l`: the model's number, and its window if any. */
export function layerLabel(meta, l) {
  const id = meta.layer_ids ? meta.layer_ids[l] : l;
  const w = layerWindow(meta, l);
  return w ? `${id} \u00b7 window ${grouped(w)}` : String(id);
}

/** A window's size as labels write it ("window 4 096"). */
export function windowText(size) {
  return `window ${grouped(size)}`;
}

/** Short text of a window for tight labels ("w4096"). */
export function windowShort(size) {
  return `w${size}`;
}
