import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { createLoadBalancer } from "./load_balancer.ts";
import { PrioritySet } from "./priority_set.ts";
import { DEFAULT_RING_HASH, type RingHashSettings, RingHashTable } from "./ring_hash_lb.ts";
import { normalizeWeights } from "./thread_aware_lb.ts";

const MAX = 0xffff_ffff_ffff_ffffn;

function host(port: number, extra: Partial<HostDescription> = {}): HostDescription {
  return {
    address: "127.0.0.1",
    port,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
    ...extra,
  };
}

function ring(
  hosts: HostDescription[],
  settings: Partial<RingHashSettings> = {},
  useHostname = false,
): RingHashTable {
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  return new RingHashTable(
    normalizeWeights(set.hostSets[0], false, false),
    { ...DEFAULT_RING_HASH, ...settings },
    useHostname,
  );
}

const ports = (list: number[]) => list.map((p) => host(p));

// Expectations from Envoy's test/common/upstream/ring_hash_lb_test.cc.
Deno.test("ring hash: Envoy's Basic ring (xxHash, 6 hosts, minimum 12)", () => {
  const hosts = ports([90, 91, 92, 93, 94, 95]);
  const r = ring(hosts, { minimumRingSize: 12 });
  assertEquals(r.size, 12);
  assertEquals(r.chooseHost(0n, 0), hosts[4]);
  assertEquals(r.chooseHost(MAX, 0), hosts[4]);
  assertEquals(r.chooseHost(3551244743356806947n, 0), hosts[5]);
  assertEquals(r.chooseHost(3551244743356806948n, 0), hosts[3]);
  assertEquals(r.chooseHost(16117243373044804880n, 0), hosts[0]);
  // BasicWithRetryHostPredicate: later attempts walk the ring.
  assertEquals(r.chooseHost(0n, 1), hosts[2]);
  assertEquals(r.chooseHost(0n, 2), hosts[0]);
  assertEquals(r.chooseHost(0n, 13), hosts[2]);
});

Deno.test("ring hash: Envoy's BasicWithMurmur2 ring", () => {
  const hosts = ports([80, 81, 82, 83, 84, 85]);
  const r = ring(hosts, { minimumRingSize: 12, hashFunction: "MURMUR_HASH_2" });
  assertEquals(r.size, 12);
  assertEquals(r.chooseHost(0n, 0), hosts[5]);
  assertEquals(r.chooseHost(MAX, 0), hosts[5]);
  assertEquals(r.chooseHost(1358027074129602068n, 0), hosts[5]);
  assertEquals(r.chooseHost(1358027074129602069n, 0), hosts[3]);
  assertEquals(r.chooseHost(10150910876324007730n, 0), hosts[2]);
});

Deno.test("ring hash: Envoy's BasicWithHostname and metadata hash_key rings", () => {
  const named = [90, 91, 92, 93, 94, 95].map((p) => host(p, { hostname: String(p) }));
  const r = ring(named, { minimumRingSize: 12 }, true);
  assertEquals(r.chooseHost(0n, 0), named[5]);
  assertEquals(r.chooseHost(MAX, 0), named[5]);
  assertEquals(r.chooseHost(7225015537174310577n, 0), named[2]);
  assertEquals(r.chooseHost(6803900775736438537n, 0), named[3]);
  // envoy.lb hash_key wins over address and hostname.
  const keyed = [90, 91, 92, 93, 94, 95].map((p) =>
    host(p, { metadata: { "envoy.lb": { hash_key: String(p) } } })
  );
  const k = ring(keyed, { minimumRingSize: 12 });
  assertEquals(k.chooseHost(7225015537174310577n, 0), keyed[2]);
  assertEquals(k.chooseHost(6803900775736438537n, 0), keyed[3]);
});

Deno.test("ring hash: Envoy's UnevenHosts (minimum 3 gives 4 points)", () => {
  const a = ports([80, 81]);
  const r = ring(a, { minimumRingSize: 3 });
  assertEquals(r.size, 4);
  assertEquals(r.chooseHost(0n, 0), a[0]);
  const b = ports([81, 82]);
  assertEquals(ring(b, { minimumRingSize: 3 }).chooseHost(0n, 0), b[0]);
});

Deno.test("ring hash: weights set the share of points; maximum caps the ring", () => {
  const hosts = [host(80, { weight: 1 }), host(81, { weight: 3 })];
  const r = ring(hosts, { minimumRingSize: 8 });
  assertEquals(r.size, 8);
  assertEquals(ring(ports([80, 81, 82]), { minimumRingSize: 100, maximumRingSize: 10 }).size, 10);
  assertEquals(ring([]).chooseHost(1n, 0), undefined);
});

const settings: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
  ringHash: { ...DEFAULT_RING_HASH, minimumRingSize: 12 },
};

Deno.test("ring hash balancer: hash picks the host; panic uses all hosts", () => {
  const hosts = ports([90, 91, 92, 93, 94, 95]);
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  let panics = 0;
  const lb = createLoadBalancer(
    { lbPolicy: "RING_HASH", lb: settings },
    set,
    () => 0,
    { healthyPanic: { inc: () => panics++ } },
  );
  assert(lb.usesHashKey);
  assertEquals(lb.chooseHost({ hashKey: 3551244743356806947n }), hosts[5]);
  assertEquals(lb.chooseHost({ hashKey: 0n }), hosts[4]);
  // Without a hash a random value is used (here 0).
  assertEquals(lb.chooseHost(), hosts[4]);
  assertEquals(panics, 0);
  set.updateHosts(0, hosts.map((h) => ({ ...h, healthy: false })));
  assertEquals(lb.chooseHost({ hashKey: 0n })?.port, 94);
  assertEquals(panics, 1);
});

Deno.test("ring hash balancer: Envoy's BasicFailover across priorities", () => {
  const set = new PrioritySet();
  set.updateHosts(0, [host(80, { healthy: false })]);
  set.updateHosts(1, [host(82, { priority: 1 })]);
  const lb = createLoadBalancer({ lbPolicy: "RING_HASH", lb: settings }, set);
  assertEquals(lb.chooseHost({ hashKey: 5n })?.port, 82);
  // P=0 at 70% health: hashes 0..69 (mod 100) stay there, the rest fail over.
  set.updateHosts(0, [host(80), host(81, { healthy: false })]);
  assertEquals(lb.chooseHost({ hashKey: 69n })?.port, 80);
  assertEquals(lb.chooseHost({ hashKey: 71n })?.port, 82);
});

Deno.test("ring hash: adding a host to ten moves about 1/11 of keys", () => {
  const ten = Array.from({ length: 10 }, (_, i) => host(8000 + i));
  const eleven = [...ten, host(8010)];
  const a = ring(ten);
  const b = ring(eleven);
  let moved = 0;
  const keys = 2000;
  for (let i = 0; i < keys; i++) {
    const h = BigInt(i) * 0x9e37_79b9_7f4a_7c15n & MAX;
    const x = a.chooseHost(h, 0)!;
    const y = b.chooseHost(h, 0)!;
    if (x !== y) moved++;
  }
  // Mostly to the new host; each old host also gives up the points beyond its new share.
  assert(moved > keys / 11 * 0.5 && moved < keys / 11 * 2, `moved ${moved} of ${keys}`);
});

Deno.test("ring hash balancer: Envoy's BasicWithRetryHostPredicate through the context", () => {
  const hosts = ports([90, 91, 92, 93, 94, 95]);
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  const lb = createLoadBalancer({ lbPolicy: "RING_HASH", lb: settings }, set);
  const pick = (reject: (h: HostDescription) => boolean, retries = 2) =>
    lb.chooseHost({
      hashKey: 0n,
      hostSelectionRetryCount: retries,
      shouldSelectAnotherHost: reject,
    });
  assertEquals(pick(() => false), hosts[4], "the first attempt is kept");
  assertEquals(pick((h) => h === hosts[4]), hosts[2], "the next point of the ring");
  assertEquals(pick(() => true), hosts[0], "all rejected: the last host checked");
  assertEquals(pick(() => true, 13), hosts[2], "retries wrap around the ring");
});
