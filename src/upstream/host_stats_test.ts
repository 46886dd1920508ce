import { assertEquals } from "../testing/assert.ts";
import { emptyHostStats, HostStats, mergeHostStats } from "./host_stats.ts";

Deno.test("host stats start at zero with Envoy's names", () => {
  assertEquals(Object.keys(new HostStats()), [
    "cx_connect_fail",
    "cx_total",
    "rq_error",
    "rq_success",
    "rq_timeout",
    "rq_total",
    "cx_active",
    "rq_active",
  ]);
});

Deno.test("workers' host stats add up", () => {
  const a = { ...emptyHostStats(), rq_total: 2, cx_active: 1 };
  const b = { ...emptyHostStats(), rq_total: 3, rq_error: 1 };
  const merged = mergeHostStats([
    { web: { "10.0.0.1:80": a } },
    { web: { "10.0.0.1:80": b, "10.0.0.2:80": b } },
  ]);
  assertEquals(merged.web["10.0.0.1:80"].rq_total, 5);
  assertEquals(merged.web["10.0.0.1:80"].cx_active, 1);
  assertEquals(merged.web["10.0.0.1:80"].rq_error, 1);
  assertEquals(merged.web["10.0.0.2:80"].rq_total, 3);
  // The inputs are not changed.
  assertEquals(a.rq_total, 2);
});
