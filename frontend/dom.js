// DOM helpers. Text always goes in through text nodes: token text is untrusted.

/** el("div", {class: "x", onclick: f}, "text", child) -> HTMLElement. Strings become text nodes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  for (const child of children.flat()) {
    if (child != null && child !== false) node.append(child);
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** svg("text", {x: 1}, "label") -> SVGElement, for exports serialised with XMLSerializer. */
export function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value != null) node.setAttribute(key, String(value));
  }
  if (text != null) node.textContent = text;
  return node;
}

function setProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") {
      // Custom properties ("--head-color") only take effect through setProperty.
      for (const [name, v] of Object.entries(value)) {
        if (name.startsWith("--")) node.style.setProperty(name, v);
        else node.style[name] = v;
      }
    } else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "selected") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** A <select> of [value, label] pairs with `selected` chosen. */
export function select(options, selected, onchange, props = {}) {
  const node = el("select", { ...props, onchange: (e) => onchange(e.target.value) });
  for (const [value, label] of options) {
    node.append(el("option", { value: String(value), selected: String(value) === String(selected) }, label));
  }
  return node;
}

/** How a token reads on screen: empty or blank tokens still need something to point at. */
export function tokenLabel(token) {
  if (token === "") return "\u2205";
  if (!/\S/.test(token)) return token.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
  return token;
}

/**
 * Canvas sized for the device pixel ratio (at least `minScale`: exports are drawn at 2x for
 * print), capped so tall token columns stay within the browser's limits.
 */
export function sizeCanvas(canvas, width, height, maxPixels = Infinity, minScale = 1) {
  const maxSide = 16000;
  const byArea = Math.sqrt(maxPixels / Math.max(1, width * height));
  const wanted = Math.max(minScale, Math.min(window.devicePixelRatio || 1, 2));
  const dpr = Math.max(1, Math.min(wanted, maxSide / Math.max(width, height, 1), byArea));
  canvas.width = Math.max(1, Math.round(width * dpr));
  canvas.height = Math.max(1, Math.round(height * dpr));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** CSS custom property of the panel root, e.g. cssVar("--fg"). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
