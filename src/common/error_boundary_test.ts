import { assertEquals } from "../testing/assert.ts";
import { setLogSink } from "./logger.ts";
import { Store } from "../stats/store.ts";
import { bugCount, containBug, reportBug, setBugCounter } from "./error_boundary.ts";

Deno.test("bugs are counted each time and logged at exponential back-off (1st, 2nd, 4th, ...)", () => {
  const store = new Store();
  const counter = store.counter("server.envoy_bug_failures");
  setBugCounter(counter);
  const lines: string[] = [];
  const old = setLogSink((l) => lines.push(l));
  try {
    const start = bugCount();
    for (let i = 0; i < 9; i++) reportBug("test", new Error(`bug ${i}`));
    assertEquals(counter.value, 9);
    const logged = [1, 2, 4, 8, 16].filter((n) => n > start && n <= start + 9).length;
    assertEquals(lines.filter((l) => l.includes("envoy bug failure in test")).length, logged);
  } finally {
    setLogSink(old);
    setBugCounter(undefined);
  }
});

Deno.test("containBug lets the scope abandon its work; an error while abandoning goes no further", () => {
  const old = setLogSink(() => {});
  try {
    const seen: unknown[] = [];
    containBug({ onBug: (e) => seen.push(e) }, "test", "boom");
    assertEquals(seen, ["boom"]);
    const before = bugCount();
    containBug(
      {
        onBug: () => {
          throw new Error("again");
        },
      },
      "test",
      "boom",
    );
    assertEquals(bugCount(), before + 2);
    containBug(undefined, "test", "no scope");
  } finally {
    setLogSink(old);
  }
});
