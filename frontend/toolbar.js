// The panel's controls: run, tag, step stepper, view tabs, layer, heads, export. Built once; each
// sync draws them from the data and the selection state; every change goes through `actions`.

import { el } from "./dom.js";
import { headColor } from "./colors.js";
import { kvGroups, layerLabel } from "./structure.js";
import { VIEWS, viewEntry } from "./views/registry.js";

/** Replace a select's options only when they changed (keeps focus and scroll), then select value. */
function fillSelect(node, options, value) {
  const sig = JSON.stringify(options);
  if (node.dataset.sig !== sig) {
    node.replaceChildren(...options.map(([v, label]) => el("option", { value: String(v) }, label)));
    node.dataset.sig = sig;
  }
  node.value = String(value);
}

function iconButton(className, label, onclick, text, title = null) {
  return el("button", { type: "button", class: `icon ${className}`, "aria-label": label, title, onclick }, text);
}

function chip(className, onclick, text) {
  return el("button", { type: "button", class: `chip ${className}`, onclick }, text);
}

/** The view tabs, one per registered view. */
function viewTabs(set) {
  const tab = ({ name, label }) =>
    el(
      "button",
      { type: "button", role: "tab", class: "tab", dataset: { view: name }, onclick: () => set({ view: name }) },
      label,
    );
  return el("div", { class: "tabs", role: "tablist", "aria-label": "View" }, VIEWS.map(tab));
}

/** The controls of the top bar (run, tag, reload, stepper, view tabs). */
function topControls(actions, set) {
  const onSelect =
    (key, read = (v) => v) =>
    (e) =>
      set({ [key]: read(e.target.value) });
  return {
    run: el("select", { "aria-label": "Run", class: "run-select", onchange: onSelect("run") }),
    tag: el("select", { "aria-label": "Tag", class: "tag-select", onchange: onSelect("tag") }),
    prev: iconButton("step-prev", "Previous step", () => actions.moveStep(-1), "\u25c0"),
    next: iconButton("step-next", "Next step", () => actions.moveStep(1), "\u25b6"),
    slider: el("input", {
      type: "range",
      class: "step-slider",
      min: "0",
      max: "0",
      value: "0",
      "aria-label": "Step",
      oninput: (e) => actions.stepAt(Number(e.target.value)),
    }),
    stepLabel: el("output", { class: "step-label", "aria-live": "polite" }),
    tabs: viewTabs(set),
    refresh: iconButton("refresh", "Reload", () => actions.refresh(), "\u21bb", "Reload runs and steps"),
  };
}

/** The controls of the sub bar (attention kind, layer, heads, export). */
function subControls(actions, set) {
  return {
    kind: el("select", {
      "aria-label": "Attention kind",
      class: "kind-select",
      onchange: (e) => set({ kind: e.target.value }),
    }),
    layer: el("select", {
      "aria-label": "Layer",
      class: "layer-select",
      onchange: (e) => set({ layer: Number(e.target.value) }),
    }),
    heads: el("div", {
      class: "heads",
      role: "group",
      "aria-label": "Heads: click toggles, double-click keeps only that head",
    }),
    allHeads: chip("all-heads", () => set({ heads: null }), "all"),
    png: chip("export-png", () => actions.export("png"), "PNG"),
    svg: chip("export-svg", () => actions.export("svg"), "SVG"),
  };
}

export class Toolbar {
  /** actions: {setState(patch), moveStep(delta), stepAt(index), refresh(), toggleHead(h), export(kind)} */
  constructor(actions) {
    const set = (patch) => actions.setState(patch);
    const c = (this.controls = { ...topControls(actions, set), ...subControls(actions, set) });
    this.actions = actions;
    // Reload sits with the run and tag it refreshes, so a narrow toolbar wraps whole groups
    // (stepper, view tabs) and never strands the button on a line of its own.
    this.stepper = el("div", { class: "stepper" }, c.prev, c.slider, c.next, c.stepLabel);
    const source = el(
      "div",
      { class: "source" },
      el("label", { class: "field" }, "Run", c.run),
      el("label", { class: "field" }, "Tag", c.tag),
      c.refresh,
    );
    this.top = el("div", { class: "toolbar" }, source, this.stepper, c.tabs);
    // Encoder-decoder records: encoder, decoder and cross attention of one probe, as in bertviz.
    this.kindField = el("label", { class: "field kind-field" }, "Attention", c.kind);
    this.layerField = el("label", { class: "field" }, "Layer", c.layer);
    this.headsField = el("div", { class: "field heads-field" }, el("span", {}, "Heads"), c.heads, c.allHeads);
    const exports = el("div", { class: "export" }, el("span", {}, "Export"), c.png, c.svg);
    this.sub = el("div", { class: "subbar" }, this.kindField, this.layerField, this.headsField, exports);
  }

  /** Run and tag selects and the view tabs; runs: names, tags: [[name, label]]. */
  syncSource(runs, tags, state) {
    const c = this.controls;
    this.top.hidden = false;
    fillSelect(
      c.run,
      runs.map((r) => [r, r]),
      state.run,
    );
    fillSelect(c.tag, tags, state.tag);
    for (const tab of c.tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.view === state.view));
  }

  /** The stepper for step `index` of `steps`, and the kind, layer and head controls for the shown part. */
  syncStep(steps, index, meta, kinds, state, selectedHeads) {
    const c = this.controls;
    this.sub.hidden = false;
    this.stepper.hidden = false;
    const n = steps.length;
    c.slider.max = String(n - 1);
    c.slider.value = String(index);
    c.slider.setAttribute("aria-valuetext", `step ${state.step}`);
    c.prev.disabled = index === 0;
    c.next.disabled = index === n - 1;
    c.stepLabel.textContent = `step ${state.step} \u00b7 ${index + 1}/${n}`;
    const [L, H] = meta.shape;
    this.kindField.hidden = kinds.length < 2;
    fillSelect(
      c.kind,
      kinds.map((k) => [k, k]),
      state.kind,
    );
    // Layers and heads by the model's numbers (a record may hold a subset of them); windowed
    // layers say their window, heads come in groups of the KV head they read.
    fillSelect(
      c.layer,
      Array.from({ length: L }, (_, l) => [l, layerLabel(meta, l)]),
      state.layer,
    );
    const headIds = meta.head_ids || Array.from({ length: H }, (_, h) => h);
    const groups = kvGroups(meta);
    const sig = JSON.stringify([headIds, groups]);
    if (c.heads.dataset.sig !== sig) {
      c.heads.dataset.sig = sig;
      c.heads.replaceChildren(...(groups ? groups.map((g) => this.kvGroup(g, headIds)) : this.squares(headIds, null)));
    }
    const pressed = new Set(selectedHeads);
    for (const sq of c.heads.querySelectorAll(".head-square"))
      sq.setAttribute("aria-pressed", String(pressed.has(Number(sq.dataset.head))));
    const perLayer = viewEntry(state.view).perLayer;
    this.layerField.hidden = !perLayer;
    this.headsField.hidden = !perLayer;
  }

  /** A toggle per stored head of `heads` (null: all), by the model's head numbers `headIds`. */
  squares(headIds, heads) {
    return (heads || headIds.map((_, h) => h)).map((h) =>
      el("button", {
        type: "button",
        class: "head-square",
        dataset: { head: String(h) },
        title: `head ${headIds[h]}`,
        "aria-label": `head ${headIds[h]}`,
        style: { "--head-color": headColor(h) },
        onclick: () => this.actions.toggleHead(h),
        ondblclick: () => this.actions.setState({ heads: [h] }),
      }),
    );
  }

  /** The toggles of the query heads reading one KV head, behind a label that shows only them. */
  kvGroup({ kv, heads }, headIds) {
    const names = heads.map((h) => headIds[h]).join(", ");
    const label = el(
      "button",
      {
        type: "button",
        class: "kv-label",
        title: `KV head ${kv}: query heads ${names} read it (grouped-query attention). Click: show only them`,
        onclick: () => this.actions.setState({ heads }),
      },
      `KV${kv}`,
    );
    return el(
      "span",
      { class: "kv-group", role: "group", "aria-label": `KV head ${kv}: heads ${names}`, dataset: { kv: String(kv) } },
      label,
      ...this.squares(headIds, heads),
    );
  }

  /** No steps to show: only run and tag stay. */
  hideStep() {
    this.stepper.hidden = true;
    this.sub.hidden = true;
  }

  hideAll() {
    this.top.hidden = true;
    this.sub.hidden = true;
  }
}
