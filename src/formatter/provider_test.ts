import { assertEquals } from "../testing/assert.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { numberProvider, stringProvider, truncated } from "./provider.ts";

const ctx = { streamInfo: new StreamInfo() };

Deno.test("numbers are text in text and numbers when typed", () => {
  const p = numberProvider(() => 42);
  assertEquals(p.text(ctx), "42");
  assertEquals(p.value(ctx), 42);
  assertEquals(numberProvider(() => undefined).text(ctx), undefined);
});

Deno.test("truncation cuts text and typed strings, not structured values", () => {
  assertEquals(truncated(stringProvider(() => "abcdef"), 3).text(ctx), "abc");
  assertEquals(truncated(stringProvider(() => "abcdef"), 3).value(ctx), "abc");
  assertEquals(truncated(stringProvider(() => "ab"), 3).text(ctx), "ab");
  const obj = { text: () => '{"a":1}', value: () => ({ a: 1 }) };
  assertEquals(truncated(obj, 2).text(ctx), '{"');
  assertEquals(truncated(obj, 2).value(ctx), { a: 1 });
});
