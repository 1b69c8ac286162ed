// The lines of the head view's query window, kept compact: every (head, row, key) weight at or
// above the smallest threshold the view draws with, and each row's mean over the shown heads at or
// above the smallest weight a hover labels. Made from blocks of dense rows (as displayed: words
// merged, hidden keys dropped) that are dropped once read: a 128-row window of 8 heads x 32 768
// keys is 134 MB as float32, its lines a few hundred kB; or from the entries a sparse record's
// rows kept, read as they came. Pure (tests/js/head_lineset.test.js).

/** Growable typed storage: push numbers, then `done()` gives the typed array. */
class Column {
  constructor(Type) {
    this.Type = Type;
    this.data = new Type(1024);
    this.length = 0;
  }

  push(v) {
    if (this.length === this.data.length) {
      const grown = new this.Type(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }

  done() {
    return this.data.slice(0, this.length);
  }
}

/** The mean over the heads (rows at `bases`) of each candidate key, kept when at least `leastMean`. */
function means(data, bases, candidates, seen, leastMean, meanKey, meanW) {
  candidates.sort((a, b) => a - b);
  for (const k of candidates) {
    seen[k] = 0;
    let sum = 0;
    for (let i = 0; i < bases.length; i++) if (bases[i] >= 0) sum += data[bases[i] + k];
    const m = sum / bases.length;
    if (m >= leastMean) {
      meanKey.push(k);
      meanW.push(m);
    }
  }
}

/**
 * One block of rows [r0, r1): CSR arrays by row (lines: head, key, w; means: key, w). A key's mean
 * over the heads reaches `leastMean` only if one head's weight does, so each row is scanned once
 * for those keys and only they are summed (rows of a long input are mostly near zero).
 */
function readBlock(slab, heads, r0, r1, least, leastMean) {
  const { keys, data, dataRow0, dataRows } = slab;
  const rowStart = new Int32Array(r1 - r0 + 1);
  const meanStart = new Int32Array(r1 - r0 + 1);
  const head = new Column(Uint16Array);
  const key = new Column(Int32Array);
  const w = new Column(Float32Array);
  const meanKey = new Column(Int32Array);
  const meanW = new Column(Float64Array);
  const seen = new Uint8Array(keys);
  const candidates = [];
  const bases = new Array(heads.length);
  const slots = heads.map((h) => slab.slot(h));
  const n = heads.length;
  const low = Math.min(least, leastMean);
  for (let q = r0; q < r1; q++) {
    rowStart[q - r0] = head.length;
    meanStart[q - r0] = meanKey.length;
    candidates.length = 0;
    for (let i = 0; i < n; i++) {
      bases[i] = slots[i] < 0 ? -1 : (slots[i] * dataRows + (q - dataRow0)) * keys;
      if (bases[i] < 0) continue;
      const base = bases[i];
      for (let k = 0; k < keys; k++) {
        const v = data[base + k];
        if (v < low) continue;
        if (v >= least) {
          head.push(heads[i]);
          key.push(k);
          w.push(v);
        }
        if (v >= leastMean && !seen[k]) {
          seen[k] = 1;
          candidates.push(k);
        }
      }
    }
    means(data, bases, candidates, seen, leastMean, meanKey, meanW);
  }
  rowStart[r1 - r0] = head.length;
  meanStart[r1 - r0] = meanKey.length;
  return {
    r0,
    r1,
    rowStart,
    head: head.done(),
    key: key.done(),
    w: w.done(),
    meanStart,
    meanKey: meanKey.done(),
    meanW: meanW.done(),
  };
}

/**
 * readBlock of a slab of kept entries (layer_data.js rowsOf `sparse`: each row's keys ascending):
 * the same lines and means as its rows densified, each mean summed over the heads in the same
 * order, without a pass over the keys a row did not keep.
 */
function readSparseBlock(slab, heads, r0, r1, least, leastMean) {
  const { offsets, indices, values } = slab.sparse;
  const rowStart = new Int32Array(r1 - r0 + 1);
  const meanStart = new Int32Array(r1 - r0 + 1);
  const [head, key, w] = [new Column(Uint16Array), new Column(Int32Array), new Column(Float32Array)];
  const [meanKey, meanW] = [new Column(Int32Array), new Column(Float64Array)];
  const sums = new Float64Array(slab.keys); // per key: the sum over the heads of the row
  const touched = [];
  const candidates = [];
  const slots = heads.map((h) => slab.slot(h));
  for (let q = r0; q < r1; q++) {
    rowStart[q - r0] = head.length;
    meanStart[q - r0] = meanKey.length;
    candidates.length = 0;
    touched.length = 0;
    for (let i = 0; i < heads.length; i++) {
      if (slots[i] < 0) continue;
      const row = slots[i] * slab.dataRows + (q - slab.dataRow0);
      for (let e = offsets[row]; e < offsets[row + 1]; e++) {
        const k = indices[e];
        const v = values[e];
        if (sums[k] === 0) touched.push(k);
        sums[k] += v;
        if (v >= least) {
          head.push(heads[i]);
          key.push(k);
          w.push(v);
        }
        if (v >= leastMean) candidates.push(k);
      }
    }
    for (const k of new Set(candidates.sort((a, b) => a - b))) {
      const m = sums[k] / heads.length;
      if (m >= leastMean) {
        meanKey.push(k);
        meanW.push(m);
      }
    }
    for (const k of touched) sums[k] = 0;
  }
  rowStart[r1 - r0] = head.length;
  meanStart[r1 - r0] = meanKey.length;
  const lines = { head: head.done(), key: key.done(), w: w.done() };
  return { r0, r1, rowStart, ...lines, meanStart, meanKey: meanKey.done(), meanW: meanW.done() };
}

/** Visit entries [i, j) (one head's lines of row q) in kRange at or above threshold; topK: the strongest. */
function visitRun(b, i, j, q, kRange, threshold, visit, topK, best) {
  const { head, key, w } = b;
  if (!topK) {
    for (let e = i; e < j; e++)
      if (key[e] >= kRange[0] && key[e] < kRange[1] && w[e] >= threshold) visit(head[e], q, key[e], w[e]);
    return;
  }
  best.length = 0;
  for (let e = i; e < j; e++) if (key[e] >= kRange[0] && key[e] < kRange[1] && w[e] >= threshold) best.push(e);
  if (best.length > topK) {
    best.sort((a, c) => w[c] - w[a] || key[a] - key[c]);
    best.length = topK;
    best.sort((a, c) => key[a] - key[c]);
  }
  for (const e of best) visit(head[e], q, key[e], w[e]);
}

export class LineSet {
  /** Lines of `heads` at or above `least`; row means at or above `leastMean`. */
  constructor(heads, least, leastMean) {
    Object.assign(this, { heads, least, leastMean });
    this.blocks = []; // sorted by first row
    this.size = 0; // lines held
  }

  /**
   * Read display rows [r0, r1) of `slab` ({keys, data, slot(h), dataRow0, dataRows}, rows
   * counted from dataRow0; or its kept entries in `sparse`); the slab may be dropped afterwards.
   */
  add(slab, r0, r1) {
    if (r1 <= r0 || !this.heads.length) return;
    const read = slab.sparse ? readSparseBlock : readBlock;
    const b = read(slab, this.heads, r0, r1, this.least, this.leastMean);
    this.size += b.head.length;
    this.blocks.push(b);
    this.blocks.sort((a, c) => a.r0 - c.r0);
  }

  /** Whether every row of [q0, q1) is held. */
  holds(q0, q1) {
    let at = q0;
    for (const b of this.blocks) if (b.r0 <= at && b.r1 > at) at = b.r1;
    return at >= q1;
  }

  /**
   * Visit every line (h, q, k, w) of rows `qRange` to keys `kRange` at or above `threshold`, row
   * by row, each row's heads in the order read; `topK`: only each head's strongest topK of a row.
   */
  forEachLine(qRange, kRange, threshold, visit, topK = 0) {
    const best = [];
    for (const b of this.blocks) {
      const q0 = Math.max(qRange[0], b.r0);
      const q1 = Math.min(qRange[1], b.r1);
      for (let q = q0; q < q1; q++) {
        const end = b.rowStart[q - b.r0 + 1];
        let i = b.rowStart[q - b.r0];
        while (i < end) {
          let j = i + 1;
          while (j < end && b.head[j] === b.head[i]) j++;
          visitRun(b, i, j, q, kRange, threshold, visit, topK, best);
          i = j;
        }
      }
    }
  }

  /**
   * The mean over the heads of row `index`'s weights on the keys of `range` (`fromQuery`), or of
   * the weights on key `index` from the rows of `range`: [[mean, j]] of those at least `least`
   * (not below the set's leastMean), largest first.
   */
  meanWeights(fromQuery, index, range, least) {
    const out = [];
    for (const b of this.blocks) {
      const { meanStart, meanKey, meanW } = b;
      const q0 = fromQuery ? Math.max(index, b.r0) : Math.max(range[0], b.r0);
      const q1 = fromQuery ? Math.min(index + 1, b.r1) : Math.min(range[1], b.r1);
      for (let q = q0; q < q1; q++) {
        for (let e = meanStart[q - b.r0]; e < meanStart[q - b.r0 + 1]; e++) {
          const k = meanKey[e];
          if (meanW[e] < least) continue;
          if (fromQuery ? k >= range[0] && k < range[1] : k === index) out.push([meanW[e], fromQuery ? k : q]);
        }
      }
    }
    return out.sort((a, c) => c[0] - a[0]);
  }
}
