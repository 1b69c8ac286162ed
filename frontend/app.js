// The panel's controller: toolbar (run, tag, step, view), layer and head selection, export,
// loading/error/empty states; owns the selection state and hands each view a small context.

import { el, select } from "./dom.js";
import { getJSON, LayerCache } from "./api.js";
import * as saved from "./state.js";
import { followTheme } from "./theme.js";
import { headColor } from "./colors.js";
import { exportPNG, exportSVG } from "./export.js";

const VIEWS = {
  head: ["Head", "./views/head_view.js", "HeadView"],
  model: ["Model", "./views/model_view.js", "ModelView"],
  matrix: ["Matrix", "./views/matrix_view.js", "MatrixView"],
  compare: ["Compare", "./views/compare_view.js", "CompareView"],
  patterns: ["Patterns", "./views/patterns_view.js", "PatternsView"],
};
const LOADING_DELAY_MS = 150; // fast renders show no spinner (no flicker while scrubbing steps)
const POLL_MS = 30000; // new steps of a running job show up without a reload

export async function mount(body) {
  const app = new App(body);
  await app.start();
  return app;
}

/** Replace a select's options only when they changed (keeps focus and scroll), then select value. */
function fillSelect(node, options, value) {
  const sig = JSON.stringify(options);
  if (node.dataset.sig !== sig) {
    node.replaceChildren(...options.map(([v, label]) => el("option", { value: String(v) }, label)));
    node.dataset.sig = sig;
  }
  node.value = String(value);
}

const EMPTY_CODE = [
  'writer = SummaryWriter("runs/x")',
  "out = model(**batch, output_attentions=True)",
  'tb_attention.add_attention(writer, "probe", out.attentions, tokens, global_step=step)',
];

class App {
  constructor(body) {
    this.state = saved.load();
    this.cache = new LayerCache();
    this.stepsCache = new Map();
    this.runs = {};
    this.gen = 0;
    this.renders = 0;
    this.view = null;
    this.viewName = null;
    this.buildDom(body);
  }

  buildDom(body) {
    const c = (this.controls = {});
    c.run = el("select", { "aria-label": "Run", class: "run-select", onchange: (e) => this.setState({ run: e.target.value }) });
    c.tag = el("select", { "aria-label": "Tag", class: "tag-select", onchange: (e) => this.setState({ tag: e.target.value }) });
    c.prev = el("button", { type: "button", class: "icon step-prev", "aria-label": "Previous step", onclick: () => this.moveStep(-1) }, "\u25c0");
    c.next = el("button", { type: "button", class: "icon step-next", "aria-label": "Next step", onclick: () => this.moveStep(1) }, "\u25b6");
    c.slider = el("input", {
      type: "range", class: "step-slider", min: "0", max: "0", value: "0", "aria-label": "Step",
      oninput: (e) => {
        const entry = this.steps[Number(e.target.value)];
        if (entry) this.setState({ step: entry.step });
      },
    });
    c.stepLabel = el("output", { class: "step-label", "aria-live": "polite" });
    c.tabs = el("div", { class: "tabs", role: "tablist", "aria-label": "View" },
      Object.entries(VIEWS).map(([name, [label]]) => el("button", {
        type: "button", role: "tab", class: "tab", dataset: { view: name }, onclick: () => this.setState({ view: name }),
      }, label)));
    c.refresh = el("button", { type: "button", class: "icon refresh", title: "Reload runs and steps", "aria-label": "Reload", onclick: () => this.refresh(true) }, "\u21bb");
    c.layer = el("select", { "aria-label": "Layer", class: "layer-select", onchange: (e) => this.setState({ layer: Number(e.target.value) }) });
    c.heads = el("div", { class: "heads", role: "group", "aria-label": "Heads: click toggles, double-click keeps only that head" });
    c.allHeads = el("button", { type: "button", class: "chip all-heads", onclick: () => this.setState({ heads: null }) }, "all");
    c.png = el("button", { type: "button", class: "chip export-png", onclick: () => this.export("png") }, "PNG");
    c.svg = el("button", { type: "button", class: "chip export-svg", onclick: () => this.export("svg") }, "SVG");
    // Reload sits with the run and tag it refreshes, so a narrow toolbar wraps whole groups
    // (stepper, view tabs) and never strands the button on a line of its own.
    this.toolbar = el("div", { class: "toolbar" },
      el("div", { class: "source" },
        el("label", { class: "field" }, "Run", c.run),
        el("label", { class: "field" }, "Tag", c.tag),
        c.refresh),
      (this.stepper = el("div", { class: "stepper" }, c.prev, c.slider, c.next, c.stepLabel)),
      c.tabs);
    this.layerField = el("label", { class: "field" }, "Layer", c.layer);
    this.headsField = el("div", { class: "field heads-field" }, el("span", {}, "Heads"), c.heads, c.allHeads);
    this.subbar = el("div", { class: "subbar" }, this.layerField, this.headsField,
      el("div", { class: "export" }, el("span", {}, "Export"), c.png, c.svg));
    this.status = el("div", { class: "status", role: "status", "aria-live": "polite" });
    this.host = el("main", { class: "view-host" });
    this.root = el("div", { class: "tba" }, this.toolbar, this.subbar, this.status, this.host);
    body.append(this.root);
  }

  async start() {
    followTheme((theme) => {
      this.theme = theme;
      if (this.meta) this.renderView();
    });
    document.addEventListener("keydown", (e) => this.onKey(e));
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => this.meta && this.renderView(), 150);
    });
    setInterval(() => document.visibilityState === "visible" && this.refresh(false), POLL_MS);
    this.showStatus("loading", "Loading runs\u2026");
    // Fetch the first view's module while the run list loads, not after it.
    const firstView = VIEWS[this.state.view in VIEWS ? this.state.view : "head"][1];
    import(firstView).catch(() => {}); // a failure surfaces where renderView imports it
    try {
      this.runs = (await getJSON("tags")).runs || {};
    } catch (e) {
      this.showStatus("error", `Cannot load attention runs: ${e.message}`);
      return;
    }
    await this.update();
  }

  // -- state -------------------------------------------------------------------------------

  setState(patch) {
    Object.assign(this.state, patch);
    saved.save(this.state);
    return this.update();
  }

  runNames() {
    return Object.keys(this.runs).filter((r) => Object.keys(this.runs[r]).length).sort();
  }

  runsWithTag(tag) {
    return this.runNames().filter((r) => tag in this.runs[r]);
  }

  steps_(run, tag) {
    const key = JSON.stringify([run, tag]);
    let promise = this.stepsCache.get(key);
    if (!promise) {
      promise = getJSON("steps", { run, tag }).then((b) => b.steps);
      promise.catch(() => this.stepsCache.delete(key));
      this.stepsCache.set(key, promise);
    }
    return promise;
  }

  /** Make run/tag/step/layer valid for the data, then redraw controls and the view. */
  async update() {
    const runs = this.runNames();
    if (!runs.length) return this.showEmpty();
    const s = this.state;
    if (!runs.includes(s.run)) s.run = runs[0];
    const tags = Object.keys(this.runs[s.run]).sort();
    if (!tags.includes(s.tag)) s.tag = tags[0];
    // Run and tag first: whatever the steps bring, the user can always pick another run or tag.
    this.syncSource(runs, tags);
    const gen = ++this.gen;
    let steps;
    try {
      steps = await this.steps_(s.run, s.tag);
    } catch (e) {
      if (gen === this.gen) this.showStepsError(`Cannot load steps of ${s.run} / ${s.tag}: ${e.message}`);
      return;
    }
    if (gen !== this.gen) return;
    if (!steps.length) return this.showStepsError(`${s.run} / ${s.tag} has no readable steps.`);
    this.steps = steps;
    let index = steps.findIndex((e) => e.step === s.step);
    if (index < 0) index = steps.length - 1; // unknown step: the latest checkpoint
    s.step = steps[index].step;
    this.meta = steps[index];
    const [L, H] = this.meta.shape;
    s.layer = Math.min(Math.max(0, s.layer || 0), L - 1);
    if (Array.isArray(s.heads)) s.heads = s.heads.filter((h) => h < H);
    saved.save(s);
    this.syncControls(runs, tags, index);
    return this.renderView();
  }

  /** The run and tag selects (and the toolbar that holds them). */
  syncSource(runs, tags) {
    const c = this.controls;
    const s = this.state;
    this.toolbar.hidden = false;
    delete this.root.dataset.empty;
    fillSelect(c.run, runs.map((r) => [r, r]), s.run);
    fillSelect(c.tag, tags.map((t) => [t, (this.runs[s.run][t] || {}).display_name || t]), s.tag);
    for (const tab of c.tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.view === s.view));
  }

  /** Every control, for the shown step at `index` of this.steps (clamped to the list). */
  syncControls(runs, tags, index) {
    const c = this.controls;
    const s = this.state;
    this.syncSource(runs, tags);
    this.subbar.hidden = false;
    this.stepper.hidden = false;
    const n = this.steps.length;
    index = Math.min(Math.max(index, 0), n - 1);
    c.slider.max = String(n - 1);
    c.slider.value = String(index);
    c.slider.setAttribute("aria-valuetext", `step ${s.step}`);
    c.prev.disabled = index === 0;
    c.next.disabled = index === n - 1;
    c.stepLabel.textContent = `step ${s.step} \u00b7 ${index + 1}/${n}`;
    const [L, H] = this.meta.shape;
    fillSelect(c.layer, Array.from({ length: L }, (_, l) => [l, `${l}`]), s.layer);
    if (c.heads.childElementCount !== H) {
      c.heads.replaceChildren(...Array.from({ length: H }, (_, h) => el("button", {
        type: "button", class: "head-square", dataset: { head: String(h) }, title: `head ${h}`, "aria-label": `head ${h}`,
        style: { "--head-color": headColor(h) },
        onclick: () => this.toggleHead(h),
        ondblclick: () => this.setState({ heads: [h] }),
      })));
    }
    const pressed = new Set(this.selectedHeads(H));
    for (const sq of c.heads.children) sq.setAttribute("aria-pressed", String(pressed.has(Number(sq.dataset.head))));
    const perLayer = s.view !== "model" && s.view !== "patterns";
    this.layerField.hidden = !perLayer;
    this.headsField.hidden = !perLayer;
  }

  selectedHeads(H) {
    const heads = this.state.heads;
    if (!Array.isArray(heads)) return Array.from({ length: H }, (_, h) => h);
    return [...new Set(heads)].filter((h) => h < H).sort((a, b) => a - b);
  }

  toggleHead(h) {
    const H = this.meta.shape[1];
    const shown = new Set(this.selectedHeads(H));
    if (shown.has(h)) shown.delete(h);
    else shown.add(h);
    this.setState({ heads: shown.size === H ? null : [...shown].sort((a, b) => a - b) });
  }

  moveStep(delta) {
    if (!this.steps) return;
    const index = this.steps.findIndex((e) => e.step === this.state.step) + delta;
    if (index >= 0 && index < this.steps.length) this.setState({ step: this.steps[index].step });
  }

  onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || !this.steps) return;
    const t = e.target;
    // Inputs and selects use arrows themselves (the slider moves the step on its own).
    if (t && (t.tagName === "SELECT" || t.tagName === "INPUT" || t.tagName === "TEXTAREA")) return;
    if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      e.preventDefault();
      this.moveStep(e.key === "ArrowLeft" ? -1 : 1);
    }
  }

  async refresh(userAsked) {
    let runs;
    try {
      runs = (await getJSON("tags")).runs || {};
    } catch (e) {
      if (userAsked) this.showError(`Cannot load attention runs: ${e.message}`);
      return;
    }
    this.runs = runs;
    this.stepsCache.clear();
    const s = this.state;
    const shownGone = !(s.run in runs && s.tag in runs[s.run]);
    if (userAsked || !this.meta || shownGone) return this.update();
    // Background poll: runs, tags and the step list may all have changed (new runs and tags;
    // new steps even when --samples_per_plugin keeps their count); the shown step stays.
    const gen = this.gen;
    try {
      const steps = await this.steps_(s.run, s.tag);
      if (gen !== this.gen || !this.meta) return; // the user moved on while the poll ran
      if (!steps.length) return this.update(); // nothing readable any more: say so
      this.steps = steps;
      const index = steps.findIndex((x) => x.step === s.step);
      if (index < 0) {
        // Sampling (--samples_per_plugin) dropped the shown step: show the next later one kept
        // (TensorBoard always keeps the latest), so the view, slider and label agree again.
        const later = steps.findIndex((x) => x.step > s.step);
        return this.setState({ step: steps[later < 0 ? steps.length - 1 : later].step });
      }
      this.syncControls(this.runNames(), Object.keys(this.runs[s.run]).sort(), index);
    } catch (_) {
      // a failed background poll is retried at the next one
    }
  }

  // -- rendering ---------------------------------------------------------------------------

  context(gen) {
    const s = this.state;
    return {
      state: { ...s },
      meta: this.meta,
      theme: this.theme,
      current: () => gen === this.gen,
      setState: (patch) => this.setState(patch),
      selectedHeads: (H) => this.selectedHeads(H),
      layer: (step, layer) => this.cache.get(s.run, s.tag, step, layer),
      layerOf: (run, tag, step, layer) => this.cache.get(run, tag, step, layer),
      allLayers: (step) => Promise.all(Array.from({ length: this.meta.shape[0] }, (_, l) => this.cache.get(s.run, s.tag, step, l))),
      steps: (run, tag) => this.steps_(run, tag),
      runsWithTag: (tag) => this.runsWithTag(tag),
      runHasTag: (run, tag) => Boolean(this.runs[run] && tag in this.runs[run]),
      getJSON,
    };
  }

  async renderView() {
    const gen = ++this.gen;
    const name = this.state.view in VIEWS ? this.state.view : "head";
    this.root.dataset.busy = "true";
    const spinner = setTimeout(() => gen === this.gen && this.showStatus("loading", "Loading attention\u2026"), LOADING_DELAY_MS);
    try {
      if (this.viewName !== name) {
        const [, path, cls] = VIEWS[name];
        const module = await import(path);
        if (gen !== this.gen) return;
        if (this.view) this.view.destroy();
        this.host.replaceChildren();
        this.view = new module[cls](this.host);
        this.viewName = name;
      }
      await this.view.render(this.context(gen));
      if (gen !== this.gen) return;
      this.showStatus(null);
      this.root.dataset.view = name;
    } catch (e) {
      if (gen === this.gen) this.showError(e.message || String(e));
    } finally {
      clearTimeout(spinner);
      if (gen === this.gen) {
        // Settled renders (drawn or failed): tests and benchmarks wait on this counter.
        this.root.dataset.renders = String(++this.renders);
        delete this.root.dataset.busy;
      }
    }
  }

  showStatus(kind, text = "") {
    this.status.className = `status${kind ? ` ${kind}` : ""}`;
    this.status.textContent = text;
    this.status.hidden = !kind;
  }

  showError(message) {
    this.showStatus("error", message);
    if (this.view) this.view.destroy();
    this.view = null;
    this.viewName = null;
    this.host.replaceChildren();
    delete this.root.dataset.busy;
  }

  /** The run or tag has no steps to show: say so, keep run and tag selectable, hide the rest. */
  showStepsError(message) {
    this.steps = [];
    this.meta = null;
    this.stepper.hidden = true;
    this.subbar.hidden = true;
    this.showError(message);
    this.root.dataset.renders = String(++this.renders); // settled, as a failed render is
  }

  showEmpty() {
    this.toolbar.hidden = true;
    this.subbar.hidden = true;
    this.showStatus(null);
    // The empty message replaces the view's elements: build a fresh view when data returns.
    if (this.view) this.view.destroy();
    this.view = null;
    this.viewName = null;
    this.host.replaceChildren(el("div", { class: "empty" },
      el("h2", {}, "No attention logged yet"),
      el("p", {}, "Log a Transformer's attention from your training or evaluation loop:"),
      el("pre", {}, el("code", {}, EMPTY_CODE.join("\n"))),
      el("p", {}, "then reload. Any Hugging Face model run with output_attentions=True works (eager attention)."),
    ));
    this.root.dataset.empty = "true";
    this.root.dataset.renders = String(++this.renders);
  }

  async export(kind) {
    if (!this.view) return;
    try {
      if (kind === "png") await exportPNG(this.view, this.state);
      else exportSVG(this.view, this.state);
    } catch (e) {
      this.showStatus("error", `Export failed: ${e.message}`);
    }
  }
}
