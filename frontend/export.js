// Export the current view as PNG and SVG (figures for papers). SVGs are built from DOM-created
// SVG elements and serialised with XMLSerializer, so token text is escaped, never markup.

import { viewEntry } from "./views/registry.js";

function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.style.display = "none";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A file name from the selection; only safe characters survive. */
export function fileName(state, ext) {
  const parts = [
    "attention",
    state.run,
    state.tag,
    `step${state.step}`,
    viewEntry(state.view).perLayer ? `layer${state.layer}` : null,
    state.view,
  ];
  return `${parts
    .filter((p) => p != null && p !== "")
    .join("_")
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .slice(0, 150)}.${ext}`;
}

export function svgText(node) {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(node)}`;
}

function svgToCanvas(node) {
  return new Promise((resolve, reject) => {
    const width = Number(node.getAttribute("width")) || 600;
    const height = Number(node.getAttribute("height")) || 400;
    const url = URL.createObjectURL(new Blob([svgText(node)], { type: "image/svg+xml" }));
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = width * 2;
      canvas.height = height * 2;
      const ctx = canvas.getContext("2d");
      ctx.scale(2, 2);
      ctx.drawImage(img, 0, 0, width, height);
      URL.revokeObjectURL(url);
      resolve(canvas);
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error("the SVG could not be rasterised"));
    };
    img.src = url;
  });
}

export async function exportPNG(view, state) {
  let canvas = view.toCanvas();
  if (!canvas) {
    const node = view.toSVG();
    if (!node) throw new Error("nothing to export in this view");
    canvas = await svgToCanvas(node);
  }
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  if (!blob) throw new Error("the browser could not encode the PNG (view too large?)");
  download(blob, fileName(state, "png"));
}

export function exportSVG(view, state) {
  const node = view.toSVG();
  if (!node) throw new Error("nothing to export in this view");
  download(new Blob([svgText(node)], { type: "image/svg+xml" }), fileName(state, "svg"));
}
