import { assert, assertEquals } from "../testing/assert.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "../runtime/runtime.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { LeastRequestLoadBalancer } from "./least_request_lb.ts";
import { PrioritySet } from "./priority_set.ts";

const settings: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
};

function host(i: number, weight = 1): HostDescription {
  return {
    address: `10.0.0.${i}`,
    port: 80,
    weight,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
  };
}

function balancer(hosts: HostDescription[], s: Partial<LbSettings> = {}, random = Math.random) {
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  return new LeastRequestLoadBalancer(set, { ...settings, ...s }, random);
}

function tally(lb: LeastRequestLoadBalancer, n: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const a = lb.chooseHost()!.address;
    seen.set(a, (seen.get(a) ?? 0) + 1);
  }
  return seen;
}

Deno.test("least request: counts active requests per host", () => {
  const a = host(1);
  const lb = balancer([a]);
  lb.requestStarted(a);
  lb.requestStarted({ ...a });
  assertEquals(lb.activeRequests(a), 2);
  lb.requestFinished(a);
  lb.requestFinished(a);
  lb.requestFinished(a);
  assertEquals(lb.activeRequests(a), 0);
});

Deno.test("least request: counts survive membership updates that replace host objects", () => {
  const set = new PrioritySet();
  const a = host(1);
  set.updateHosts(0, [a, host(2)]);
  const lb = new LeastRequestLoadBalancer(set, settings, Math.random);
  lb.requestStarted(a);
  const a2 = { ...a, weight: 3 };
  set.updateHosts(0, [a2, host(2)]);
  assertEquals(lb.activeRequests(a2), 1);
  lb.requestFinished(a2);
  assertEquals(lb.activeRequests(a), 0);
  // A host that left while idle is forgotten; one that comes back starts from zero.
  set.updateHosts(0, [host(2)]);
  set.updateHosts(0, [host(1), host(2)]);
  assertEquals(lb.activeRequests(host(1)), 0);
  lb.destroy();
});

Deno.test("least request: two choices avoid the busier host", () => {
  const [a, b] = [host(1), host(2)];
  const lb = balancer([a, b]);
  lb.requestStarted(a);
  // a wins only when both samples are a: about a quarter of picks.
  const seen = tally(lb, 8000);
  assert(Math.abs(seen.get(a.address)! - 2000) < 250, `${[...seen]}`);
});

Deno.test("least request: choice_count samples more hosts", () => {
  const hosts = [host(1), host(2), host(3), host(4)];
  const lb = balancer(hosts, { choiceCount: 4 });
  for (const h of hosts.slice(1)) lb.requestStarted(h);
  // The idle host loses only when none of 4 samples hits it: (3/4)^4 = 32%.
  const seen = tally(lb, 8000);
  assert(Math.abs(seen.get(hosts[0].address)! - 8000 * (1 - 0.75 ** 4)) < 300, `${[...seen]}`);
});

Deno.test("least request: unequal weights use a load-adjusted weighted schedule", () => {
  const [a, b] = [host(1, 2), host(2, 1)];
  const lb = balancer([a, b]);
  const idle = tally(lb, 3000);
  assert(Math.abs(idle.get(a.address)! - 2000) <= 2, `${[...idle]}`);
  // With 3 requests in flight, a's weight is 2 / (3 + 1) = 0.5: b now gets twice a's share.
  for (let i = 0; i < 3; i++) lb.requestStarted(a);
  const busy = tally(lb, 3000);
  assert(Math.abs(busy.get(b.address)! - 2000) <= 5, `${[...busy]}`);
});

Deno.test("least request: active_request_bias 0 ignores load", () => {
  const [a, b] = [host(1, 2), host(2, 1)];
  const lb = balancer([a, b], { activeRequestBias: 0 });
  for (let i = 0; i < 5; i++) lb.requestStarted(a);
  assert(Math.abs(tally(lb, 3000).get(a.address)! - 2000) <= 2);
});

Deno.test("least request: active_request_bias follows its runtime key", () => {
  const before = runtimeSnapshot();
  try {
    setRuntimeSnapshot({
      layers: [{ name: "admin", entries: { "lb.bias": { raw: "0", double: 0, uint: 0 } } }],
    });
    // The runtime's 0 overrides the configured 1: load is ignored, as with a bias of 0.
    const [a, b] = [host(1, 2), host(2, 1)];
    const lb = balancer([a, b], { activeRequestBiasRuntimeKey: "lb.bias" });
    for (let i = 0; i < 5; i++) lb.requestStarted(a);
    assert(Math.abs(tally(lb, 3000).get(a.address)! - 2000) <= 2);
  } finally {
    setRuntimeSnapshot(before);
  }
});
