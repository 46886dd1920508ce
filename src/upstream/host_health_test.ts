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

/** A health-checked STRICT_DNS-like tracker over hosts 1..n, all passing their checks. */
function keeping(ports: number[], opts: { keepRemovedHealthy?: boolean; activeHc?: boolean } = {}) {
  const raw = new PrioritySet();
  const out = new PrioritySet();
  raw.updateHosts(0, ports.map((p) => host(p)));
  const t = new HostHealthTracker(raw, out, {}, {
    activeHc: opts.activeHc ?? true,
    keepRemovedHealthy: opts.keepRemovedHealthy ?? true,
  });
  for (const st of t.states.values()) {
    st.failedActiveHc = false;
    st.pendingActiveHc = false;
  }
  t.publish();
  const changes: [string[], string[]][] = [];
  t.onHostsChanged = (a, r) => changes.push([a.map((s) => s.key), r.map((s) => s.key)]);
  const ports_ = () => out.allHosts().map((h) => h.port);
  return { raw, out, t, changes, ports: ports_ };
}

Deno.test("a removed host that passes active hc stays, flagged pending_dynamic_removal, until it fails", () => {
  const k = keeping([1, 2]);
  k.raw.updateHosts(0, [host(1)]);
  assertEquals(k.ports(), [1, 2]);
  const kept = k.out.allHosts()[1];
  assert(kept.healthy && kept.flags!.pendingDynamicRemoval);
  assert(!k.out.allHosts()[0].flags!.pendingDynamicRemoval);
  // Still tracked (and so still checked): no removal reached the health checker.
  assertEquals(k.changes, []);
  const st = k.t.states.get("10.0.0.1:2")!;
  assertEquals(k.t.keyOf(st.monitor[ID]), "10.0.0.1:2");
  // Another discovery update that still lacks it keeps it.
  k.raw.updateHosts(0, [host(1), host(3)]);
  assertEquals(k.ports(), [1, 3, 2]);
  // Degraded and outlier-ejected are no reasons to go.
  st.degradedActiveHc = true;
  st.outlier.ejected = true;
  k.t.publish();
  assertEquals(k.ports(), [1, 3, 2]);
  // Failing active hc removes it from the published membership, and the checker stops.
  st.failedActiveHc = true;
  k.t.publish();
  assertEquals(k.ports(), [1, 3]);
  assertEquals(k.changes, [[["10.0.0.1:3"], []], [[], ["10.0.0.1:2"]]]);
  assertEquals(k.t.states.has("10.0.0.1:2"), false);
  assertEquals(k.t.keyOf(st.monitor[ID]), undefined);
  // Coming back later is a new host, checked from scratch.
  k.raw.updateHosts(0, [host(1), host(2), host(3)]);
  assertEquals(k.t.states.get("10.0.0.1:2")!.pendingActiveHc, true);
});

Deno.test("a kept host that reappears in discovery is simply a member again", () => {
  const k = keeping([1, 2]);
  const st = k.t.states.get("10.0.0.1:2")!;
  k.raw.updateHosts(0, [host(1)]);
  assert(st.pendingDynamicRemoval);
  k.raw.updateHosts(0, [host(1), host(2, { weight: 5 })]);
  assertEquals(k.ports(), [1, 2]);
  const h = k.out.allHosts()[1];
  assert(h.healthy && !h.flags!.pendingDynamicRemoval);
  assertEquals(h.weight, 5);
  // Same state: its checks carry on, no add or remove.
  assertEquals(k.changes, []);
  assertEquals(k.t.states.get("10.0.0.1:2"), st);
  // Failing now only marks it unhealthy.
  st.failedActiveHc = true;
  k.t.publish();
  assertEquals(k.ports(), [1, 2]);
  assert(!k.out.allHosts()[1].healthy);
});

Deno.test("removed at once: hosts failing or not yet passing active hc, EDS-unhealthy hosts", () => {
  const k = keeping([1, 2, 3, 4]);
  k.t.states.get("10.0.0.1:2")!.failedActiveHc = true;
  k.t.states.get("10.0.0.1:3")!.pendingActiveHc = true;
  k.t.states.get("10.0.0.1:3")!.failedActiveHc = true;
  k.raw.updateHosts(0, [host(1), host(4, { healthy: false })]);
  k.raw.updateHosts(0, [host(1)]);
  assertEquals(k.ports(), [1]);
  assertEquals(k.changes, [[[], ["10.0.0.1:2", "10.0.0.1:3"]], [[], ["10.0.0.1:4"]]]);
});

Deno.test("removed at once: ignore_health_on_host_removal, or no active hc (outlier detection only)", () => {
  for (
    const opts of [{ keepRemovedHealthy: false }, { activeHc: false, keepRemovedHealthy: false }]
  ) {
    const k = keeping([1, 2], opts);
    k.raw.updateHosts(0, [host(1)]);
    assertEquals(k.ports(), [1]);
    assertEquals(k.changes, [[[], ["10.0.0.1:2"]]]);
  }
});

Deno.test("a kept host stays at its priority; a level it alone filled empties when it goes", () => {
  const raw = new PrioritySet();
  const out = new PrioritySet();
  raw.updateHosts(0, [host(1)]);
  raw.updateHosts(1, [host(2, { priority: 1 })]);
  const t = new HostHealthTracker(raw, out, {}, { activeHc: true, keepRemovedHealthy: true });
  for (const st of t.states.values()) st.failedActiveHc = st.pendingActiveHc = false;
  raw.updateHosts(1, []);
  assertEquals(out.hostSets.map((s) => s.hosts.map((h) => h.port)), [[1], [2]]);
  t.states.get("10.0.0.1:2")!.failedActiveHc = true;
  t.publish();
  assertEquals(out.hostSets.map((s) => s.hosts.map((h) => h.port)), [[1], []]);
});
