// The panel's answer cache (api.js PromiseCache): one request per key until cleared, a failed
// one asked again, the oldest entry dropped past the limit.
import { test } from "node:test";
import assert from "node:assert/strict";

import { PromiseCache } from "../../frontend/api.js";

test("an answer is made once per key until clear()", async () => {
  const cache = new PromiseCache();
  let made = 0;
  const make = () => Promise.resolve(++made);
  assert.equal(await cache.get("a", make), 1);
  assert.equal(await cache.get("a", make), 1);
  assert.equal(await cache.get("b", make), 2);
  cache.clear();
  assert.equal(await cache.get("a", make), 3);
});

test("a failed answer is asked for again", async () => {
  const cache = new PromiseCache();
  await assert.rejects(
    cache.get("a", () => Promise.reject(new Error("no"))),
    /no/,
  );
  assert.equal(await cache.get("a", () => Promise.resolve("yes")), "yes");
});

test("past maxEntries the oldest answer goes", async () => {
  const cache = new PromiseCache(2);
  let made = 0;
  const make = () => Promise.resolve(++made);
  await cache.get("a", make);
  await cache.get("b", make);
  await cache.get("c", make); // drops "a"
  assert.equal(await cache.get("b", make), 2);
  assert.equal(await cache.get("a", make), 4);
});
