// The panel's controller: owns the selection state and the data caches, keeps the toolbar in
// step with them, and hands the current view a small context (views/README.md).

import { el } from "./dom.js";
import { getJSON } from "./api.js";
import { PanelData } from "./data.js";
import * as saved from "./state.js";
import { followTheme } from "./theme.js";
import { exportPNG, exportSVG } from "./export.js";
import { Toolbar } from "./toolbar.js";
import { HEAD_VIEWS, loadView, viewEntry } from "./views/registry.js";
import { wholeLayer } from "./views/layer_data.js";
// Imported further down the graph; named here so the browser fetches them with this module.
import "./decode.js";
import "./colors.js";
import "./scales.js";

const LOADING_DELAY_MS = 150; // fast renders show no spinner (no flicker while scrubbing steps)
const POLL_MS = 30000; // new steps of a running job show up without a reload

export async function mount(body) {
  const app = new App(body);
  await app.start();
  return app;
}

const EMPTY_CODE = [
  'writer = SummaryWriter("runs/x")',
  "out = model(**batch, output_attentions=True)",
  'tb_attention.add_attention(writer, "probe", out.attentions, tokens, global_step=step)',
];

class App {
  constructor(body) {
    this.state = saved.load();
    this.data = new PanelData(); // every fetch, cached until a refresh
    this.runs = {};
    this.gen = 0;
    this.renders = 0;
    this.view = null;
    this.viewName = null;
    this.toolbar = new Toolbar({
      setState: (patch) => this.setState(patch),
      moveStep: (delta) => this.moveStep(delta),
      stepAt: (index) => this.steps && this.steps[index] && this.setState({ step: this.steps[index].step }),
      refresh: () => this.refresh(true),
      toggleHead: (h) => this.toggleHead(h),
      export: (kind) => this.export(kind),
    });
    this.status = el("div", { class: "status", role: "status", "aria-live": "polite" });
    this.host = el("main", { class: "view-host" });
    this.root = el(
      "div",
      { class: "tba", dataset: { pollMs: String(POLL_MS) } },
      this.toolbar.top,
      this.toolbar.sub,
      this.status,
      this.host,
    );
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
    loadView(this.state.view).catch(() => {}); // a failure surfaces where renderView loads it
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
    return Object.keys(this.runs)
      .filter((r) => Object.keys(this.runs[r]).length)
      .sort();
  }

  runsWithTag(tag) {
    return this.runNames().filter((r) => tag in this.runs[r]);
  }

  tagOptions(run) {
    return Object.keys(this.runs[run])
      .sort()
      .map((t) => [t, this.runs[run][t].display_name || t]);
  }

  /** Make run/tag/step/layer valid for the data, then redraw controls and the view. */
  async update() {
    const runs = this.runNames();
    if (!runs.length) return this.showEmpty();
    const s = this.state;
    if (!runs.includes(s.run)) s.run = runs[0];
    const tags = this.tagOptions(s.run);
    if (!tags.some(([t]) => t === s.tag)) s.tag = tags[0][0];
    // Run and tag first: whatever the steps bring, the user can always pick another run or tag.
    this.syncSource(runs, tags);
    const gen = ++this.gen;
    let steps;
    try {
      steps = await this.data.steps(s.run, s.tag);
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
    const { kinds, parts } = steps[index];
    if (!kinds.includes(s.kind)) s.kind = kinds[0];
    this.kinds = kinds;
    this.meta = parts[s.kind];
    const [L, H] = this.meta.shape;
    s.layer = Math.min(Math.max(0, s.layer || 0), L - 1);
    if (Array.isArray(s.heads)) s.heads = s.heads.filter((h) => h < H);
    saved.save(s);
    this.syncControls(runs, tags, index);
    // A per-layer view of a layer small enough to fetch whole reads the whole layer: start that
    // fetch now, while the view's module may still be loading (layer_data.js decides the rule).
    if (viewEntry(s.view).perLayer && wholeLayer(this.meta)) this.data.layer(s.run, s.tag, s.step, s.layer, s.kind);
    return this.renderView();
  }

  syncSource(runs, tags) {
    delete this.root.dataset.empty;
    this.toolbar.syncSource(runs, tags, this.state);
  }

  /** Every control, for the shown step at `index` of this.steps (clamped to the list). */
  syncControls(runs, tags, index) {
    this.syncSource(runs, tags);
    index = Math.min(Math.max(index, 0), this.steps.length - 1);
    this.toolbar.syncStep(this.steps, index, this.meta, this.kinds, this.state, this.selectedHeads(this.meta.shape[1]));
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
    // A view that used the key (the matrix view pans with arrows) says so with preventDefault.
    if (e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented || !this.steps) return;
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
    this.data.clear(userAsked);
    const s = this.state;
    const shownGone = !(s.run in runs && s.tag in runs[s.run]);
    if (userAsked || !this.meta || shownGone) return this.update();
    // Background poll: runs, tags and the step list may all have changed (new runs and tags;
    // new steps even when --samples_per_plugin keeps their count); the shown step stays.
    const gen = this.gen;
    try {
      const steps = await this.data.steps(s.run, s.tag);
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
      this.syncControls(this.runNames(), this.tagOptions(s.run), index);
    } catch (_) {
      // a failed background poll is retried at the next one
    }
  }

  // -- rendering ---------------------------------------------------------------------------

  /** What a view gets for one render (views/README.md): the selection and what it reads. */
  context(gen) {
    const s = this.state;
    const d = this.data;
    return {
      state: { ...s },
      meta: this.meta,
      theme: this.theme,
      current: () => gen === this.gen,
      setState: (patch) => this.setState(patch),
      // One head opened in a view that shows it (views/registry.js opensHead; the first by default).
      openHead: (layer, head, patch = {}) =>
        this.setState({ view: HEAD_VIEWS[0].name, layer, heads: [head], ...patch }),
      selectedHeads: (H) => this.selectedHeads(H),
      layer: (step, layer) => d.layer(s.run, s.tag, step, layer, s.kind),
      layerOf: (run, tag, step, layer) => d.layer(run, tag, step, layer, s.kind),
      // Part of a layer (api.js fetchLayer opts: heads, query rows, the mean of heads, kept weight).
      selection: (step, layer, opts) => d.layer(s.run, s.tag, step, layer, s.kind, opts),
      selectionOf: (run, tag, step, layer, opts) => d.layer(run, tag, step, layer, s.kind, opts),
      // A region of a layer at a zoom factor (/tile), of any run: {promise, release} (data.js).
      tile: (run, tag, step, layer, region) => d.tile(run, tag, step, layer, s.kind, region),
      streamThumbnails: (step, onLayer) => d.streamThumbnails(s.run, s.tag, step, s.kind, onLayer),
      rollout: (step, layer) => d.rollout(s.run, s.tag, step, layer, s.kind),
      steps: (run, tag) => d.steps(run, tag),
      patterns: (run, tag) => d.json("patterns", { run, tag, kind: s.kind }),
      formed: () => d.json("formed", { run: s.run, tag: s.tag, kind: s.kind }),
      importance: () => d.json("importance", { run: s.run, kind: s.kind }),
      change: (params) => d.json("change", { ...params, kind: s.kind }),
      relevance: (params) => d.json("relevance", { ...params, run: s.run, tag: s.tag, kind: s.kind }),
      qk: (params) => d.json("qk", { ...params, run: s.run, tag: s.tag, kind: s.kind }),
      runsWithTag: (tag) => this.runsWithTag(tag),
      runHasTag: (run, tag) => Boolean(this.runs[run] && tag in this.runs[run]),
    };
  }

  async renderView() {
    const gen = ++this.gen;
    const name = viewEntry(this.state.view).name;
    this.root.dataset.busy = "true";
    const spinner = setTimeout(
      () => gen === this.gen && this.showStatus("loading", "Loading attention\u2026"),
      LOADING_DELAY_MS,
    );
    try {
      if (this.viewName !== name) {
        const View = await loadView(name);
        if (gen !== this.gen) return;
        if (this.view) this.view.destroy();
        this.host.replaceChildren();
        this.view = new View(this.host);
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

  dropView() {
    if (this.view) this.view.destroy();
    this.view = null;
    this.viewName = null;
    this.host.replaceChildren();
  }

  showError(message) {
    this.showStatus("error", message);
    this.dropView();
    delete this.root.dataset.busy;
  }

  /** The run or tag has no steps to show: say so, keep run and tag selectable, hide the rest. */
  showStepsError(message) {
    this.steps = [];
    this.meta = null;
    this.toolbar.hideStep();
    this.showError(message);
    this.root.dataset.renders = String(++this.renders); // settled, as a failed render is
  }

  showEmpty() {
    this.toolbar.hideAll();
    this.showStatus(null);
    // The empty message replaces the view's elements: build a fresh view when data returns.
    this.dropView();
    this.host.append(
      el(
        "div",
        { class: "empty" },
        el("h2", {}, "No attention logged yet"),
        el("p", {}, "Log a Transformer's attention from your training or evaluation loop:"),
        el("pre", {}, el("code", {}, EMPTY_CODE.join("\n"))),
        el("p", {}, "then reload. Any Hugging Face model run with output_attentions=True works (eager attention)."),
      ),
    );
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
