// The panel's controls: run, tag, step stepper, view tabs, layer, heads, export. Built once; each
// sync draws them from the data and the selection state; every change goes through `actions`.

import { el } from "./dom.js";
import { headColor } from "./colors.js";
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

export class Toolbar {
  /** actions: {setState(patch), moveStep(delta), stepAt(index), refresh(), toggleHead(h), export(kind)} */
  constructor(actions) {
    const c = (this.controls = {});
    const set = (patch) => actions.setState(patch);
    c.run = el("select", { "aria-label": "Run", class: "run-select", onchange: (e) => set({ run: e.target.value }) });
    c.tag = el("select", { "aria-label": "Tag", class: "tag-select", onchange: (e) => set({ tag: e.target.value }) });
    c.prev = el(
      "button",
      { type: "button", class: "icon step-prev", "aria-label": "Previous step", onclick: () => actions.moveStep(-1) },
      "\u25c0",
    );
    c.next = el(
      "button",
      { type: "button", class: "icon step-next", "aria-label": "Next step", onclick: () => actions.moveStep(1) },
      "\u25b6",
    );
    c.slider = el("input", {
      type: "range",
      class: "step-slider",
      min: "0",
      max: "0",
      value: "0",
      "aria-label": "Step",
      oninput: (e) => actions.stepAt(Number(e.target.value)),
    });
    c.stepLabel = el("output", { class: "step-label", "aria-live": "polite" });
    c.tabs = el(
      "div",
      { class: "tabs", role: "tablist", "aria-label": "View" },
      VIEWS.map(({ name, label }) =>
        el(
          "button",
          {
            type: "button",
            role: "tab",
            class: "tab",
            dataset: { view: name },
            onclick: () => set({ view: name }),
          },
          label,
        ),
      ),
    );
    c.refresh = el(
      "button",
      {
        type: "button",
        class: "icon refresh",
        title: "Reload runs and steps",
        "aria-label": "Reload",
        onclick: () => actions.refresh(),
      },
      "\u21bb",
    );
    c.kind = el("select", {
      "aria-label": "Attention kind",
      class: "kind-select",
      onchange: (e) => set({ kind: e.target.value }),
    });
    c.layer = el("select", {
      "aria-label": "Layer",
      class: "layer-select",
      onchange: (e) => set({ layer: Number(e.target.value) }),
    });
    c.heads = el("div", {
      class: "heads",
      role: "group",
      "aria-label": "Heads: click toggles, double-click keeps only that head",
    });
    c.allHeads = el("button", { type: "button", class: "chip all-heads", onclick: () => set({ heads: null }) }, "all");
    c.png = el("button", { type: "button", class: "chip export-png", onclick: () => actions.export("png") }, "PNG");
    c.svg = el("button", { type: "button", class: "chip export-svg", onclick: () => actions.export("svg") }, "SVG");
    this.actions = actions;
    // Reload sits with the run and tag it refreshes, so a narrow toolbar wraps whole groups
    // (stepper, view tabs) and never strands the button on a line of its own.
    this.stepper = el("div", { class: "stepper" }, c.prev, c.slider, c.next, c.stepLabel);
    this.top = el(
      "div",
      { class: "toolbar" },
      el(
        "div",
        { class: "source" },
        el("label", { class: "field" }, "Run", c.run),
        el("label", { class: "field" }, "Tag", c.tag),
        c.refresh,
      ),
      this.stepper,
      c.tabs,
    );
    // Encoder-decoder records: encoder, decoder and cross attention of one probe, as in bertviz.
    this.kindField = el("label", { class: "field kind-field" }, "Attention", c.kind);
    this.layerField = el("label", { class: "field" }, "Layer", c.layer);
    this.headsField = el("div", { class: "field heads-field" }, el("span", {}, "Heads"), c.heads, c.allHeads);
    this.sub = el(
      "div",
      { class: "subbar" },
      this.kindField,
      this.layerField,
      this.headsField,
      el("div", { class: "export" }, el("span", {}, "Export"), c.png, c.svg),
    );
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
    // Layers and heads by the model's numbers (a record may hold a subset of them).
    fillSelect(
      c.layer,
      Array.from({ length: L }, (_, l) => [l, `${meta.layer_ids ? meta.layer_ids[l] : l}`]),
      state.layer,
    );
    const headIds = meta.head_ids || Array.from({ length: H }, (_, h) => h);
    if (c.heads.dataset.ids !== headIds.join(",")) {
      c.heads.dataset.ids = headIds.join(",");
      c.heads.replaceChildren(
        ...Array.from({ length: H }, (_, h) =>
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
        ),
      );
    }
    const pressed = new Set(selectedHeads);
    for (const sq of c.heads.children) sq.setAttribute("aria-pressed", String(pressed.has(Number(sq.dataset.head))));
    const perLayer = viewEntry(state.view).perLayer;
    this.layerField.hidden = !perLayer;
    this.headsField.hidden = !perLayer;
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
