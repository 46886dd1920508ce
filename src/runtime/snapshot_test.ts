import { assert, assertEquals } from "../testing/assert.ts";
import { evaluateFractionalPercent, Snapshot } from "./snapshot.ts";

const snap = new Snapshot({
  layers: [
    {
      name: "base",
      entries: {
        a: { raw: "1", uint: 1, double: 1, bool: true },
        b: { raw: "x" },
        pct: { raw: "{numerator: 5}", fractionalPercent: { numerator: 5, denominator: 100 } },
      },
    },
    { name: "admin", entries: { a: { raw: "7", uint: 7, double: 7, bool: true } } },
  ],
});

Deno.test("later layers override earlier ones", () => {
  assertEquals(snap.get("a"), "7");
  assertEquals(snap.getInteger("a", 0), 7);
  assertEquals(snap.get("b"), "x");
  assertEquals(snap.size, 3);
  assertEquals(snap.layers.map((l) => l.name), ["base", "admin"]);
});

Deno.test("typed lookups fall back to the default when unset or of another type", () => {
  assertEquals(snap.getInteger("b", 3), 3);
  assertEquals(snap.getInteger("nope", 4), 4);
  assertEquals(snap.getDouble("a", 0), 7);
  assertEquals(snap.getBoolean("b", true), true);
  assertEquals(snap.getBoolean("a", false), true);
  assertEquals(snap.get(""), undefined);
});

Deno.test("featureEnabled reads fractional percents, integers as percentages, or the default", () => {
  const dflt = { numerator: 0, denominator: 100 };
  assert(snap.featureEnabled("pct", dflt, 4));
  assert(!snap.featureEnabled("pct", dflt, 5));
  assert(snap.featureEnabled("pct", dflt, 104));
  // An integer is a percentage.
  assert(snap.featureEnabled("a", dflt, 6));
  assert(!snap.featureEnabled("a", dflt, 7));
  // Unset: the default.
  assert(!snap.featureEnabled("none", dflt, 0));
  assert(snap.featureEnabled("none", { numerator: 1, denominator: 10_000 }, 20_000));
  assert(!snap.featureEnabled("none", { numerator: 1, denominator: 10_000 }, 20_001));
  // Above 100 always passes.
  const big = new Snapshot({ layers: [{ name: "l", entries: { k: { raw: "500", uint: 500 } } }] });
  assert(big.featureEnabled("k", dflt, 99));
  assert(big.featureEnabledPercent("k", 0, 99));
  assert(!big.featureEnabledPercent("other", 10, 10));
});

Deno.test("evaluateFractionalPercent", () => {
  assert(evaluateFractionalPercent({ numerator: 100, denominator: 100 }, 12345));
  assert(!evaluateFractionalPercent({ numerator: 0, denominator: 100 }, 0));
  assert(evaluateFractionalPercent({ numerator: 50, denominator: 100 }, 149));
  assert(!evaluateFractionalPercent({ numerator: 50, denominator: 100 }, 150));
});

Deno.test("data round-trips", () => {
  const again = new Snapshot(structuredClone(snap.data()));
  assertEquals(again.get("a"), "7");
  assertEquals(again.layers, snap.layers);
});
