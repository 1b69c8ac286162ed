// Selection state, kept in the iframe's URL fragment (survives reloading the frame) and in
// localStorage (survives reloading TensorBoard, which recreates the frame without a fragment).

import { DEFAULT_VIEW, HEAD_VIEWS, isView } from "./views/registry.js";
import { SCALES } from "./scales.js";

const STORAGE_KEY = "tb-attention:state";
const INTS = new Set(["step", "layer", "stepB", "head", "qstart", "qrows", "topk"]);
const LISTS = new Set(["heads", "hide"]);
// Fields that take one of a few values (anything else is dropped).
const CHOICES = { scale: SCALES, words: ["1"], open: HEAD_VIEWS.map((v) => v.name), group: ["kv"] };
export const FILTERS = ["all", "aa", "bb", "ab", "ba"];

export const DEFAULTS = {
  run: null,
  tag: null,
  step: null,
  layer: 0,
  heads: null,
  view: DEFAULT_VIEW,
  filter: "all",
  runB: null,
  stepB: null,
  metric: null, // Patterns: null is the first metric the server names
  sort: null,
  label: "",
  head: null,
  kind: null,
  // Long inputs: colour scale (null: by length), hidden key positions, words instead of pieces,
  // the head view's query window (first row, rows) and lines per query, what a model-view click opens.
  scale: null,
  hide: null,
  words: null,
  qstart: null,
  qrows: null,
  topk: null,
  open: null,
  picks: null,
  query: null,
  method: null, // Patterns: heads plotted; Rollout: position, rollout|flow
  group: null, // Patterns: "kv" groups scores and formed heads by KV head
};

/** Parse "a=1&heads=0,3" into a state object; unknown or malformed fields are dropped. */
export function parse(text) {
  const state = {};
  const params = new URLSearchParams(text.replace(/^#/, ""));
  for (const [key, raw] of params) {
    if (!(key in DEFAULTS)) continue;
    if (INTS.has(key)) {
      if (/^\d{1,18}$/.test(raw)) state[key] = Number(raw);
    } else if (LISTS.has(key)) {
      state[key] =
        raw === ""
          ? []
          : raw
              .split(",")
              .filter((s) => /^\d{1,6}$/.test(s))
              .map(Number);
    } else {
      state[key] = raw;
    }
  }
  if (state.view && !isView(state.view)) delete state.view;
  if (state.filter && !FILTERS.includes(state.filter)) delete state.filter;
  for (const [key, allowed] of Object.entries(CHOICES))
    if (key in state && !allowed.includes(state[key])) delete state[key];
  return state;
}

export function serialize(state) {
  const params = new URLSearchParams();
  for (const key of Object.keys(DEFAULTS)) {
    const value = state[key];
    if (value == null || value === DEFAULTS[key]) continue;
    params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  return params.toString();
}

/** The saved state: the fragment if it has one, else localStorage, over the defaults. */
export function load() {
  let text = location.hash.slice(1);
  if (!text) {
    try {
      text = localStorage.getItem(STORAGE_KEY) || "";
    } catch (_) {
      text = ""; // storage disabled: the fragment alone has to do
    }
  }
  return { ...DEFAULTS, ...parse(text) };
}

export function save(state) {
  const text = serialize(state);
  history.replaceState(null, "", `${location.pathname}${location.search}#${text}`);
  try {
    localStorage.setItem(STORAGE_KEY, text);
  } catch (_) {
    // storage disabled or full: the fragment still holds the state
  }
}
