// Entry point of the Attention panel. TensorBoard's plugin_entry.html imports this module and
// calls render(); every URL is relative so the panel also works under --path_prefix.

let started = null;

/** Mount the panel into document.body. Safe to call more than once (mounts once). */
export function render() {
  if (started) return started;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "./static/style.css";
  document.head.append(link);
  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // The one global: lets tests and bench/render.py wait for the first paint.
  window.__tbAttention = { ready };
  // The saved view's module graph loads beside the app's, not after it: the first paint waits
  // for both (each import is a request to TensorBoard).
  import("./static/state.js")
    .then((state) => import("./static/views/registry.js").then((registry) => registry.loadView(state.load().view)))
    .catch(() => {}); // a failure surfaces where the app loads the view
  started = import("./static/app.js")
    .then((m) => m.mount(document.body))
    // Resolve with nothing: the app object holds large typed arrays no caller needs.
    .then(
      () => resolveReady(),
      (error) => {
        rejectReady(error);
        throw error;
      },
    );
  return started;
}
