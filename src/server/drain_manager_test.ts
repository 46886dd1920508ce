import { assert, assertEquals } from "../testing/assert.ts";
import { DrainManager, gradualShare } from "./drain_manager.ts";

Deno.test("health check failure drains DEFAULT listeners, not MODIFY_ONLY ones", () => {
  const d = new DrainManager();
  d.registerListener("modify_only", 1);
  assert(!d.drainClose("web"));
  d.setHealthCheckFailed(true);
  assert(d.drainClose("web"));
  assert(!d.drainClose("modify_only"));
  d.setHealthCheckFailed(false);
  assert(!d.drainClose("web"));
});

Deno.test("immediate drains close every connection of the drained listeners", () => {
  const d = new DrainManager();
  d.startDrain(["in"], 600_000, "immediate");
  assert(d.draining("in"));
  assert(d.drainClose("in", 0.999));
  assert(!d.drainClose("out", 0));
  assert(!d.draining("out"));
});

Deno.test("gradual drains close a share of connections that grows with time", () => {
  const d = new DrainManager();
  d.startDrain(["web"], 600_000, "gradual");
  // At the start almost nothing closes; a random draw of 0 always closes.
  assertEquals(d.drainClose("web", 0.999), false);
  assertEquals(d.drainClose("web", 0), true);
  const done = new DrainManager();
  done.startDrain(["web"], 0, "gradual");
  assert(done.drainClose("web", 0.999));
});

Deno.test("gradual sweeps tell a share of connections that grows linearly over the drain time", () => {
  // Sweeps every second over a 600 s drain: the share still open after t seconds is 1 - t/600.
  let open = 1;
  for (let t = 1; t <= 600; t++) {
    open *= 1 - gradualShare(t * 1000, 600_000, 1000);
    if (t === 60) assert(Math.abs(open - 0.9) < 1e-9, `${open}`);
    if (t === 300) assert(Math.abs(open - 0.5) < 1e-9, `${open}`);
  }
  assertEquals(open, 0);
  assertEquals(gradualShare(700_000, 600_000, 1000), 1);
});
