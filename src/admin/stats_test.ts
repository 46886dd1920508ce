import { assertEquals } from "../testing/assert.ts";
import { parseStatsParams } from "./stats.ts";

const parse = (q: string) => parseStatsParams(new URLSearchParams(q));

Deno.test("stats parameters and Envoy's errors for bad values", () => {
  const p = parse("usedonly&type=Counters&histogram_buckets=detailed&format=json");
  assertEquals(typeof p === "object" && [p.usedOnly, p.type, p.histogramBuckets, p.format], [
    true,
    "Counters",
    "detailed",
    "json",
  ]);
  assertEquals(parse("filter=("), "Invalid re2 regex");
  assertEquals(parse("type=counters"), "invalid &type= param");
  assertEquals(
    parse("histogram_buckets=summary"),
    "usage: /stats?histogram_buckets=(cumulative|disjoint|none)\n",
  );
  assertEquals(
    parse("format=xml"),
    "usage: /stats?format=(html|active-html|json|prometheus|text)\n\n",
  );
  // Empty values are absent, as Envoy reads them.
  const empty = parse("format=&histogram_buckets=");
  assertEquals(typeof empty === "object" && [empty.format, empty.histogramBuckets], [
    "text",
    "none",
  ]);
});
