import { assertEquals } from "../testing/assert.ts";
import { formatG, formatShortest } from "./number_format.ts";

Deno.test("formatG matches printf %g for Envoy's default bucket bounds", () => {
  const bounds = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];
  assertEquals(bounds.map((b) => formatG(b)), bounds.map(String));
  assertEquals(formatG(300000), "300000");
  assertEquals(formatG(600000), "600000");
  assertEquals(formatG(1800000), "1.8e+06");
  assertEquals(formatG(3600000), "3.6e+06");
});

Deno.test("formatG rounds, strips zeros and switches notation like printf", () => {
  assertEquals(formatG(0), "0");
  assertEquals(formatG(99.5), "99.5");
  assertEquals(formatG(99.9), "99.9");
  assertEquals(formatG(1234567), "1.23457e+06");
  assertEquals(formatG(0.0001), "0.0001");
  assertEquals(formatG(0.00001), "1e-05");
  assertEquals(formatG(-2.5), "-2.5");
  assertEquals(formatG(1e100), "1e+100");
  assertEquals(formatG(NaN), "nan");
  assertEquals(formatG(Infinity), "inf");
});

Deno.test("formatG with precision 32 prints the exact binary value as Envoy's Prometheus le", () => {
  assertEquals(formatG(0.5, 32), "0.5");
  assertEquals(formatG(3600000, 32), "3600000");
  assertEquals(formatG(0.1, 32), "0.10000000000000000555111512312578");
  assertEquals(formatG(1e22, 32), "10000000000000000000000");
  assertEquals(formatG(1e40, 32), "1.0000000000000000303786028427004e+40");
  assertEquals(formatG(12345.678, 32), "12345.677999999999883584678173065");
});

Deno.test("formatShortest matches {fmt}'s default for doubles", () => {
  assertEquals(formatShortest(1), "1");
  assertEquals(formatShortest(1.0435787), "1.0435787");
  assertEquals(formatShortest(1.0351851851851852), "1.0351851851851852");
  assertEquals(formatShortest(229.57333), "229.57333");
  assertEquals(formatShortest(3600000), "3600000");
  assertEquals(formatShortest(1e15), "1000000000000000");
  assertEquals(formatShortest(1e16), "1e+16");
  assertEquals(formatShortest(0.0001), "0.0001");
  assertEquals(formatShortest(0.00001), "1e-05");
  assertEquals(formatShortest(-0.25), "-0.25");
  assertEquals(formatShortest(0), "0");
  assertEquals(formatShortest(NaN), "nan");
  assertEquals(formatShortest(-Infinity), "-inf");
});
