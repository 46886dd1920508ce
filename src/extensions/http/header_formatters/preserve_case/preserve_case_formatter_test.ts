import { assertEquals } from "../../../../testing/assert.ts";
import { PreserveCaseFormatter, preserveCaseFormatterFactory } from "./preserve_case_formatter.ts";
import { properCaseWords } from "../../../../http/http1/header_formatter.ts";

const DEFAULT = { forwardReasonPhrase: false, properCaseOnEnvoyHeaders: false };

Deno.test("preserve_case: remembered names keep their spelling, the first one wins", () => {
  const f = new PreserveCaseFormatter(DEFAULT);
  f.processKey("Foo");
  f.processKey("FOO");
  f.processKey("X-MiXeD");
  assertEquals(f.format("foo"), "Foo");
  assertEquals(f.format("x-mixed"), "X-MiXeD");
  // Names the proxy added: as stored by default, proper case with PROPER_CASE.
  assertEquals(f.format("hello-world"), "hello-world");
  const proper = new PreserveCaseFormatter({ ...DEFAULT, properCaseOnEnvoyHeaders: true });
  proper.processKey("x-lower");
  assertEquals(proper.format("hello-world"), "Hello-World");
  assertEquals(proper.format("x-lower"), "x-lower");
});

Deno.test("preserve_case: the reason phrase is kept only with forward_reason_phrase", () => {
  const off = new PreserveCaseFormatter(DEFAULT);
  off.setReasonPhrase("Totally Fine");
  assertEquals(off.getReasonPhrase(), "");
  const on = preserveCaseFormatterFactory({ ...DEFAULT, forwardReasonPhrase: true }).create();
  on.setReasonPhrase("Totally Fine");
  assertEquals(on.getReasonPhrase(), "Totally Fine");
});

Deno.test("properCaseWords: Envoy's proper_case_words", () => {
  assertEquals(properCaseWords("content-type"), "Content-Type");
  assertEquals(properCaseWords("foo$b#$are"), "Foo$B#$Are");
  assertEquals(properCaseWords("x-foo_bar2baz"), "X-Foo_Bar2baz");
  assertEquals(properCaseWords("te"), "Te");
});
