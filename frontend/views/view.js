// What every view shares (views/README.md): a root element in the host, removed on destroy,
// and no export unless the view offers one.

import { el } from "../dom.js";

export class View {
  constructor(host, className) {
    this.host = host;
    this.root = el("div", { class: className });
    host.append(this.root);
  }

  destroy() {
    this.root.remove();
  }

  toCanvas() {
    return null;
  }

  toSVG() {
    return null;
  }
}
