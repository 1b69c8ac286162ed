// Head importance as the views read it from /importance (docs/http_api.md): the step whose
// importance goes with a shown step, and a head's normalised value by the model's layer and head
// numbers. Pure (tested with node); the server normalises, the panel only looks values up.

/**
 * The importance entry for `step` of an /importance answer: the step itself, else the latest
 * logged before it; {step, normalized, raw, loss, examples, ablation, exact} or null.
 */
export function importanceAt(body, step) {
  if (!body || !body.steps || !body.steps.length) return null;
  let index = -1;
  body.steps.forEach((s, i) => {
    if (s <= step) index = i;
  });
  if (index < 0) return null;
  return {
    step: body.steps[index],
    exact: body.steps[index] === step,
    normalized: body.normalized[index],
    raw: body.values[index],
    loss: body.loss[index],
    examples: body.examples[index],
    ablation: body.ablation[index],
  };
}

/** A head's normalised importance by the model's layer and head numbers, or null. */
export function headImportance(entry, layerId, headId) {
  const row = entry && entry.normalized[layerId];
  const v = row ? row[headId] : undefined;
  return typeof v === "number" ? v : null;
}

/** "importance 0.42 (step 30)": a tile's or a cell's words for it. */
export function importanceText(entry, value) {
  if (value == null) return "";
  return `importance ${value.toFixed(2)}${entry.exact ? "" : ` (step ${entry.step})`}`;
}

/** What the ablation check of an entry found, in words (or ""). */
export function ablationText(ablation) {
  if (!ablation || !ablation.joint) return "";
  const delta = (loss) => `${loss >= ablation.base_loss ? "+" : ""}${(loss - ablation.base_loss).toFixed(4)}`;
  const parts = ["most", "least"]
    .filter((g) => typeof ablation.joint[g] === "number")
    .map((g) => `the ${ablation.k} ${g} important heads zeroed: ${delta(ablation.joint[g])}`);
  return `Eval loss ${ablation.base_loss.toFixed(4)}; ${parts.join(", ")}`;
}
