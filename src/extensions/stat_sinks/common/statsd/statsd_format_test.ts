import { assertEquals } from "../../../../testing/assert.ts";
import {
  buildMessage,
  DatagramPacker,
  formatInteger,
  histogramValue,
  type TagFormat,
  utf8Length,
} from "./statsd_format.ts";

const tags = [
  { name: "envoy.response_code_class", value: "2" },
  { name: "envoy.cluster_name", value: "a" },
];

Deno.test("buildMessage: full names, or DogStatsD tags after the value", () => {
  assertEquals(
    buildMessage("envoy", "cluster.a.upstream_rq_2xx", "3", "|c"),
    "envoy.cluster.a.upstream_rq_2xx:3|c",
  );
  assertEquals(
    buildMessage("envoy", "cluster.upstream_rq_xx", "3", "|c", tags),
    "envoy.cluster.upstream_rq_xx:3|c|#envoy.response_code_class:2,envoy.cluster_name:a",
  );
  // No tags: nothing after the type, not a bare "|#".
  assertEquals(buildMessage("p", "server.live", "1", "|g", []), "p.server.live:1|g");
  const graphite: TagFormat = { start: ";", assign: "=", separator: ";", position: "afterName" };
  assertEquals(
    buildMessage("envoy", "cluster.upstream_rq_xx", "3", "|c", tags, graphite),
    "envoy.cluster.upstream_rq_xx;envoy.response_code_class=2;envoy.cluster_name=a:3|c",
  );
});

Deno.test("formatInteger: uint64 as Envoy prints it", () => {
  assertEquals(formatInteger(0), "0");
  assertEquals(formatInteger(42.9), "42");
  assertEquals(formatInteger(2 ** 53), "9007199254740992");
  assertEquals(formatInteger(-1), "18446744073709551615");
});

Deno.test("histogramValue: integral timers, Percent as a six-digit |h fraction", () => {
  assertEquals(histogramValue("Milliseconds", 12.7), { value: "12", type: "|ms" });
  assertEquals(histogramValue("Bytes", 1024), { value: "1024", type: "|ms" });
  assertEquals(histogramValue("Microseconds", 0.4), { value: "0", type: "|ms" });
  assertEquals(histogramValue("Percent", 500_000), { value: "0.5", type: "|h" });
  assertEquals(histogramValue("Percent", 1_000_000), { value: "1", type: "|h" });
  // Computed in float32, printed with six significant digits.
  assertEquals(histogramValue("Percent", 123_456), { value: "0.123456", type: "|h" });
  assertEquals(histogramValue("Percent", 1), { value: "1e-06", type: "|h" });
});

Deno.test("DatagramPacker: one metric per datagram without a buffer", () => {
  const sent: string[] = [];
  const p = new DatagramPacker(0, (d) => sent.push(d));
  p.add("a:1|c");
  p.add("b:2|c");
  p.flush();
  assertEquals(sent, ["a:1|c", "b:2|c"]);
});

Deno.test("DatagramPacker: newline-joined up to the size, as Envoy's writeBuffer", () => {
  const sent: string[] = [];
  const p = new DatagramPacker(12, (d) => sent.push(d));
  p.add("a:1|c"); // 5
  p.add("b:2|c"); // 5 + 1 + 5 = 11 fits
  p.add("c:3|c"); // would be 17: the buffer goes first
  p.add("a-very-long:1|c"); // at least the size: sent at once, ahead of what is buffered
  p.add("d:4|c");
  p.flush();
  p.flush(); // nothing left: no empty datagram
  assertEquals(sent, ["a:1|c\nb:2|c", "a-very-long:1|c", "c:3|c\nd:4|c"]);
});

Deno.test("DatagramPacker and utf8Length count bytes, not UTF-16 units", () => {
  assertEquals([utf8Length("abc"), utf8Length("é"), utf8Length("€"), utf8Length("😀")], [
    3,
    2,
    3,
    4,
  ]);
  const sent: string[] = [];
  const p = new DatagramPacker(8, (d) => sent.push(d));
  p.add("é:1|c"); // 6 bytes
  p.add("x"); // 6 + 1 + 1 = 8: would fill the buffer exactly, which fits
  p.add("y");
  p.flush();
  assertEquals(sent, ["é:1|c\nx", "y"]);
});
