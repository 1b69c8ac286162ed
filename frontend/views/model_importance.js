// The model view's importance marks: on each head's tile a bar along its bottom edge, as long as
// the head's importance normalised in its layer (the server's /importance), over a dark band.

import { cssVar } from "../dom.js";
import { headImportance } from "./importance.js";

const BAR = 4; // px

/** Bars on every tile of a ModelGrid for an importance entry (views/importance.js importanceAt). */
export function drawImportance(g, grid, entry) {
  const colour = cssVar("--accent") || "#f57c00";
  let drawn = 0;
  for (let l = 0; l < grid.L; l++)
    for (let h = 0; h < grid.H; h++) {
      const v = headImportance(entry, grid.layerIds[l], grid.headIds[h]);
      if (v == null) continue;
      const x = grid.x(h);
      const y = grid.y(l) + grid.cell - BAR;
      g.fillStyle = "rgba(0, 0, 0, 0.55)";
      g.fillRect(x, y, grid.cell, BAR);
      g.fillStyle = colour;
      g.fillRect(x, y, Math.max(1, Math.round(grid.cell * v)), BAR);
      drawn++;
    }
  return drawn;
}
