import { assert, assertEquals } from "../testing/assert.ts";
import { HostHealthTracker, type HostState, withFlags } from "./host_health.ts";
import { ID } from "./host_monitor.ts";
import type { HostDescription } from "./host.ts";
import { PrioritySet } from "./priority_set.ts";

function host(port: number, extra: Partial<HostDescription> = {}): HostDescription {
  return {
    address: "10.0.0.1",
    port,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
    ...extra,
  };
}

Deno.test("active hc hosts start failed and pending; hosts come and go with the membership", () => {
  const raw = new PrioritySet();
  const out = new PrioritySet();
  raw.updateHosts(0, [host(1), host(2)]);
  const t = new HostHealthTracker(raw, out, {}, { activeHc: true });
  const changes: [string[], string[]][] = [];
  t.onHostsChanged = (a, r) => changes.push([a.map((s) => s.key), r.map((s) => s.key)]);
  assertEquals(out.allHosts().map((h) => h.healthy), [false, false]);
  assert(out.allHosts()[0].flags!.pendingActiveHc);
  const st = t.states.get("10.0.0.1:1")!;
  st.failedActiveHc = false;
  st.pendingActiveHc = false;
  t.publish();
  assertEquals(out.allHosts().map((h) => h.healthy), [true, false]);
  // Host 2 leaves, host 3 joins; host 1 keeps its state.
  raw.updateHosts(0, [host(1), host(3)]);
  assertEquals(changes, [[["10.0.0.1:3"], ["10.0.0.1:2"]]]);
  assertEquals(out.allHosts().map((h) => h.healthy), [true, false]);
  assertEquals([...t.states.keys()], ["10.0.0.1:1", "10.0.0.1:3"]);
  // Monitor ids name hosts for the workers' reports.
  assertEquals(t.keyOf(t.states.get("10.0.0.1:3")!.monitor[ID]), "10.0.0.1:3");
});

Deno.test("without active hc, hosts start healthy (outlier detection only)", () => {
  const raw = new PrioritySet();
  const out = new PrioritySet();
  raw.updateHosts(0, [host(1)]);
  new HostHealthTracker(raw, out, {}, { activeHc: false });
  assert(out.allHosts()[0].healthy);
});

function state(over: Partial<HostState> = {}): HostState {
  const raw = new PrioritySet();
  raw.updateHosts(0, [host(1)]);
  const t = new HostHealthTracker(raw, new PrioritySet(), {}, { activeHc: false });
  return Object.assign(t.states.get("10.0.0.1:1")!, over);
}

Deno.test("health combines as Envoy's flags: any failure is unhealthy, else any degraded", () => {
  const eds = (status: Partial<HostDescription>) => host(1, status);
  // EDS healthy, active hc degraded (x-envoy-degraded): degraded.
  let h = withFlags(eds({}), state({ degradedActiveHc: true }));
  assertEquals([h.healthy, h.degraded], [false, true]);
  // EDS degraded and active hc failed: unhealthy, not degraded.
  h = withFlags(eds({ healthy: false, degraded: true }), state({ failedActiveHc: true }));
  assertEquals([h.healthy, h.degraded], [false, undefined]);
  // EDS unhealthy wins over a passing health check.
  h = withFlags(eds({ healthy: false }), state());
  assertEquals([h.healthy, h.flags!.edsHealthy], [false, false]);
  // Ejected by outlier detection.
  const s = state();
  s.outlier.ejected = true;
  h = withFlags(eds({}), s);
  assertEquals([h.healthy, h.flags!.failedOutlierCheck], [false, true]);
});
