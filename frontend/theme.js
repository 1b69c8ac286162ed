// Follow TensorBoard's light/dark theme: the parent app toggles "dark-mode" on its <body>
// (same origin, so the frame can read it); standalone, fall back to prefers-color-scheme.

function parentBody() {
  try {
    if (window.parent !== window && window.parent.document.body) return window.parent.document.body;
  } catch (_) {
    // Cross-origin embedding: only the media query is available.
  }
  return null;
}

export function currentTheme() {
  const body = parentBody();
  if (body) return body.classList.contains("dark-mode") ? "dark" : "light";
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

/** Apply the theme to <html data-theme> now and on every change; calls onChange(theme). */
export function followTheme(onChange) {
  let theme = null;
  const apply = () => {
    const next = currentTheme();
    if (next === theme) return;
    theme = next;
    document.documentElement.dataset.theme = theme;
    onChange(theme);
  };
  apply();
  const body = parentBody();
  if (body) new MutationObserver(apply).observe(body, { attributes: true, attributeFilter: ["class"] });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
  return () => theme;
}
