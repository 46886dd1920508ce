/**
 * Test assertions. JSR (and so `@std/assert`) is not reachable from this project's build
 * machines; `node:assert` is built into Deno and gives the same checks with good diffs.
 */
import nodeAssert from "node:assert/strict";

/** Fails unless `actual` deep-equals `expected`. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Fails unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Fails unless `actual` matches `re`. */
export function assertMatch(actual: string | undefined, re: RegExp, msg?: string): void {
  nodeAssert.match(actual ?? "<undefined>", re, msg);
}
