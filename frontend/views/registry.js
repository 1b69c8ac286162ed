// The one list of the panel's views (see views/README.md for what a view implements). Adding a
// view is one module in this folder and one entry here: the tabs, the URL state, the layer and
// head controls, the export file names and where a click on one head leads all read this list.

export const VIEWS = [
  // name (URL state), tab label, module, class, perLayer: shows one layer (layer and head
  // controls), opensHead: a click on one head elsewhere (model, patterns, compare) may open it here
  { name: "head", label: "Head", module: "./head_view.js", cls: "HeadView", perLayer: true, opensHead: true },
  { name: "model", label: "Model", module: "./model_view.js", cls: "ModelView", perLayer: false },
  { name: "matrix", label: "Matrix", module: "./matrix_view.js", cls: "MatrixView", perLayer: true, opensHead: true },
  { name: "compare", label: "Compare", module: "./compare_view.js", cls: "CompareView", perLayer: true },
  { name: "patterns", label: "Patterns", module: "./patterns_view.js", cls: "PatternsView", perLayer: false },
  { name: "rollout", label: "Rollout", module: "./rollout_view.js", cls: "RolloutView", perLayer: false },
  { name: "qk", label: "Query/Key", module: "./qk_view.js", cls: "QKView", perLayer: true },
];

export const DEFAULT_VIEW = VIEWS[0].name;

/** The views a click on one head opens, the default first (the model view offers the choice). */
export const HEAD_VIEWS = VIEWS.filter((v) => v.opensHead);

/** The registry entry of a view name; unknown names get the default view. */
export function viewEntry(name) {
  return VIEWS.find((v) => v.name === name) || VIEWS[0];
}

export function isView(name) {
  return VIEWS.some((v) => v.name === name);
}

/** Load a view's class (modules load on first use). */
export async function loadView(name) {
  const entry = viewEntry(name);
  const module = await import(entry.module);
  return module[entry.cls];
}
