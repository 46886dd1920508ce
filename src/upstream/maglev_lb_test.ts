import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import { isPrime, MaglevTable } from "./maglev_lb.ts";
import { createLoadBalancer } from "./load_balancer.ts";
import { PrioritySet } from "./priority_set.ts";
import { normalizeWeights } from "./thread_aware_lb.ts";

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

function table(
  hosts: HostDescription[],
  size: number,
  useHostname = false,
  localityWeighted = false,
): MaglevTable {
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  return new MaglevTable(
    normalizeWeights(set.hostSets[0], false, localityWeighted),
    size,
    useHostname,
  );
}

function assignments(t: MaglevTable, hosts: HostDescription[], size: number): number[] {
  return Array.from({ length: size }, (_, i) => hosts.indexOf(t.chooseHost(BigInt(i), 0)!));
}

// Expectations from Envoy's test/common/upstream/maglev_lb_test.cc.
Deno.test("maglev: Envoy's Basic table (6 hosts, size 7)", () => {
  const hosts = [90, 91, 92, 93, 94, 95].map((p) => host(p));
  const t = table(hosts, 7);
  assertEquals(assignments(t, hosts, 7), [2, 4, 0, 1, 5, 0, 3]);
  // The table repeats modulo its size.
  assertEquals(t.chooseHost(7n + 1n, 0), hosts[4]);
  // BasicWithRetryHostPredicate: later attempts flip the hash.
  assertEquals(t.chooseHost(10n, 0), hosts[1]);
  assertEquals(t.chooseHost(10n, 1), hosts[0]);
  assertEquals(t.chooseHost(10n, 2), hosts[5]);
});

Deno.test("maglev: Envoy's BasicWithHostName and metadata hash_key tables", () => {
  const named = [90, 91, 92, 93, 94, 95].map((p) => host(p, { hostname: String(p) }));
  assertEquals(assignments(table(named, 7, true), named, 7), [2, 5, 0, 3, 4, 1, 0]);
  const keyed = [90, 91, 92, 93, 94, 95].map((p) =>
    host(p, { metadata: { "envoy.lb": { hash_key: String(p) } } })
  );
  assertEquals(assignments(table(keyed, 7), keyed, 7), [2, 5, 0, 3, 4, 1, 0]);
});

Deno.test("maglev: Envoy's Weighted table (weights 1 and 2, size 17)", () => {
  const hosts = [host(90, { weight: 1 }), host(91, { weight: 2 })];
  assertEquals(
    assignments(table(hosts, 17), hosts, 17),
    [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1],
  );
});

Deno.test("maglev: Envoy's LocalityWeightedSameLocalityWeights table", () => {
  const loc = (zone: string) => ({ region: "", zone, subZone: "" });
  const hosts = [
    host(90, { weight: 1, locality: loc("a"), localityWeight: 1 }),
    host(91, { weight: 2, locality: loc("b"), localityWeight: 1 }),
  ];
  assertEquals(
    assignments(table(hosts, 17, false, true), hosts, 17),
    [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1],
  );
});

Deno.test("maglev: empty table picks nothing; primes", () => {
  assertEquals(table([], 7).chooseHost(3n, 0), undefined);
  assert(isPrime(65537) && isPrime(5000011) && isPrime(7) && isPrime(2));
  assert(!isPrime(8) && !isPrime(1) && !isPrime(0) && !isPrime(65535));
});

Deno.test("maglev: adding a host to ten moves about 1/11 of slots", () => {
  const ten = Array.from({ length: 10 }, (_, i) => host(8000 + i));
  const a = table(ten, 65537);
  const b = table([...ten, host(8010)], 65537);
  let moved = 0;
  for (let i = 0n; i < 65537n; i++) if (a.chooseHost(i, 0) !== b.chooseHost(i, 0)) moved++;
  const share = moved / 65537;
  assert(share > 1 / 11 * 0.8 && share < 1 / 11 * 1.5, `moved ${share}`);
});

Deno.test("maglev balancer: Envoy's BasicWithRetryHostPredicate through the context", () => {
  const hosts = [90, 91, 92, 93, 94, 95].map((p) => host(p));
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  const lb = createLoadBalancer({
    lbPolicy: "MAGLEV",
    lb: {
      healthyPanicThreshold: 50,
      localityWeighted: false,
      choiceCount: 2,
      activeRequestBias: 1,
      maglevTableSize: 7,
    },
  }, set);
  const pick = (reject: (h: HostDescription) => boolean) =>
    lb.chooseHost({ hashKey: 10n, hostSelectionRetryCount: 2, shouldSelectAnotherHost: reject });
  assertEquals(pick(() => false), hosts[1]);
  assertEquals(pick((h) => h === hosts[1]), hosts[0]);
  assertEquals(pick(() => true), hosts[5]);
});
