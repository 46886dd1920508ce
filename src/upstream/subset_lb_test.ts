import type { JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";
import type { HostDescription } from "./host.ts";
import type { LbSettings } from "./lb_base.ts";
import { createLoadBalancer } from "./load_balancer.ts";
import { PrioritySet } from "./priority_set.ts";
import { canonicalJson, type MetadataMatchCriteria, type SubsetSettings } from "./subset_lb.ts";

function host(i: number, lb?: Record<string, JsonValue>): HostDescription {
  return {
    address: `10.0.0.${i}`,
    port: 80,
    weight: 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
    ...(lb ? { metadata: { "envoy.lb": lb } } : {}),
  };
}

const HOSTS = [
  host(1, { version: "v1", stage: "prod" }),
  host(2, { version: "v2", stage: "prod" }),
  host(3, { version: "v1", stage: "canary" }),
  host(4),
];

function balancer(subset: Partial<SubsetSettings>, hosts = HOSTS, policy = "ROUND_ROBIN") {
  const set = new PrioritySet();
  set.updateHosts(0, hosts);
  const lb: LbSettings = {
    healthyPanicThreshold: 50,
    localityWeighted: false,
    choiceCount: 2,
    activeRequestBias: 1,
    subset: {
      fallbackPolicy: "NO_FALLBACK",
      defaultSubset: {},
      selectors: [{ keys: ["version"] }, { keys: ["stage", "version"] }],
      listAsAny: false,
      ...subset,
    },
  };
  return { set, lb: createLoadBalancer({ lbPolicy: policy, lb }, set) };
}

function match(kv: Record<string, JsonValue>): MetadataMatchCriteria {
  return { entries: Object.entries(kv).sort((a, b) => a[0] < b[0] ? -1 : 1) };
}

/** The set of hosts (last address digit) picked over `n` picks. */
function picked(
  lb: ReturnType<typeof balancer>["lb"],
  kv: Record<string, JsonValue> | undefined,
  n = 12,
): string {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const h = lb.chooseHost(kv ? { metadataMatch: match(kv) } : undefined);
    seen.add(h ? h.address.slice(-1) : "-");
  }
  return [...seen].sort().join("");
}

Deno.test("subset lb: metadata_match selects the subset with exactly those values", () => {
  const { lb } = balancer({});
  assertEquals(picked(lb, { version: "v1" }), "13");
  assertEquals(picked(lb, { version: "v2" }), "2");
  assertEquals(picked(lb, { version: "v1", stage: "prod" }), "1");
  // No subset for these values or keys, and NO_FALLBACK: no host.
  assertEquals(picked(lb, { version: "v9" }), "-");
  assertEquals(picked(lb, { stage: "prod" }), "-");
  assertEquals(picked(lb, undefined), "-");
});

Deno.test("subset lb: cluster fallback ANY_ENDPOINT and DEFAULT_SUBSET", () => {
  assertEquals(picked(balancer({ fallbackPolicy: "ANY_ENDPOINT" }).lb, { version: "v9" }), "1234");
  const def = balancer({ fallbackPolicy: "DEFAULT_SUBSET", defaultSubset: { stage: "prod" } }).lb;
  assertEquals(picked(def, { version: "v9" }), "12");
  assertEquals(picked(def, undefined), "12");
  // An empty default subset is every host.
  assertEquals(picked(balancer({ fallbackPolicy: "DEFAULT_SUBSET" }).lb, undefined), "1234");
  // A default subset no host matches: no host.
  const none = balancer({ fallbackPolicy: "DEFAULT_SUBSET", defaultSubset: { stage: "qa" } }).lb;
  assertEquals(picked(none, undefined), "-");
});

Deno.test("subset lb: selector fallback policies, KEYS_SUBSET retries fewer keys", () => {
  const { lb } = balancer({
    fallbackPolicy: "ANY_ENDPOINT",
    selectors: [
      { keys: ["version"], fallback: "NO_FALLBACK" },
      { keys: ["stage", "version"], fallback: "KEYS_SUBSET", fallbackKeys: ["version"] },
    ],
  });
  assertEquals(picked(lb, { version: "v9" }), "-", "the selector's NO_FALLBACK");
  assertEquals(picked(lb, { version: "v1", stage: "qa" }), "13", "fell back to version only");
  assertEquals(picked(lb, { version: "v9", stage: "qa" }), "-", "then that selector's policy");
  assertEquals(picked(lb, { other: "x" }), "1234", "unknown keys: the cluster's policy");
});

Deno.test("subset lb: list_as_any puts a host in a subset per list element", () => {
  const hosts = [host(1, { version: ["v1", "v2"] }), host(2, { version: "v2" })];
  const { lb } = balancer({ listAsAny: true }, hosts);
  assertEquals(picked(lb, { version: "v1" }), "1");
  assertEquals(picked(lb, { version: "v2" }), "12");
  const strict = balancer({}, hosts).lb;
  assertEquals(picked(strict, { version: "v1" }), "-");
  assertEquals(picked(strict, { version: ["v1", "v2"] }), "1");
});

Deno.test("subset lb: subsets follow membership; hashing policies keep the hash", () => {
  const { set, lb } = balancer({}, HOSTS, "RING_HASH");
  assert(lb.usesHashKey);
  const pick = () =>
    lb.chooseHost({ hashKey: 12345n, metadataMatch: match({ version: "v1" }) })?.address;
  const first = pick();
  assertEquals(pick(), first);
  set.updateHosts(0, [host(5, { version: "v1" })]);
  assertEquals(pick(), "10.0.0.5");
  lb.destroy();
});

Deno.test("canonicalJson sorts object keys", () => {
  assertEquals(canonicalJson({ b: 1, a: [true, null, "x"] }), '{"a":[true,null,"x"],"b":1}');
});

Deno.test("subset lb: counts lb_subsets_selected and lb_subsets_fallback", () => {
  const set = new PrioritySet();
  set.updateHosts(0, HOSTS);
  const counts = { selected: 0, fallback: 0, panic: 0 };
  const lb = createLoadBalancer(
    {
      lbPolicy: "RANDOM",
      lb: {
        healthyPanicThreshold: 50,
        localityWeighted: false,
        choiceCount: 2,
        activeRequestBias: 1,
        subset: {
          fallbackPolicy: "ANY_ENDPOINT",
          defaultSubset: {},
          selectors: [{ keys: ["version"] }],
          listAsAny: false,
        },
      },
    },
    set,
    Math.random,
    {
      healthyPanic: { inc: () => counts.panic++ },
      subsetsSelected: { inc: () => counts.selected++ },
      subsetsFallback: { inc: () => counts.fallback++ },
    },
  );
  lb.chooseHost({ metadataMatch: match({ version: "v1" }) });
  lb.chooseHost({ metadataMatch: match({ version: "v9" }) });
  lb.chooseHost();
  assertEquals(counts, { selected: 1, fallback: 2, panic: 0 });
});

Deno.test("subset lb: lb_subsets_created/removed/active follow membership", () => {
  const set = new PrioritySet();
  set.updateHosts(0, HOSTS);
  const counts = { created: 0, removed: 0, active: 0 };
  const stats = {
    healthyPanic: { inc() {} },
    subsetsCreated: { inc: (n = 1) => counts.created += n },
    subsetsRemoved: { inc: (n = 1) => counts.removed += n },
    subsetsActive: { inc: (n = 1) => counts.active += n, dec: (n = 1) => counts.active -= n },
  };
  const lb = createLoadBalancer(
    {
      lbPolicy: "ROUND_ROBIN",
      lb: {
        healthyPanicThreshold: 50,
        localityWeighted: false,
        choiceCount: 2,
        activeRequestBias: 1,
        subset: {
          fallbackPolicy: "NO_FALLBACK",
          defaultSubset: {},
          selectors: [{ keys: ["version"] }, { keys: ["stage", "version"] }],
          listAsAny: false,
        },
      },
    },
    set,
    Math.random,
    stats,
  );
  // version=v1, version=v2; (prod,v1), (prod,v2), (canary,v1).
  assertEquals(counts, { created: 5, removed: 0, active: 5 });
  // The canary host leaves: its (canary,v1) subset goes; version=v1 keeps host 1.
  set.updateHosts(0, HOSTS.filter((h) => h.address !== "10.0.0.3"));
  assertEquals(counts, { created: 5, removed: 1, active: 4 });
  set.updateHosts(0, [...HOSTS, host(5, { version: "v3", stage: "prod" })]);
  assertEquals(counts, { created: 8, removed: 1, active: 7 });
  lb.destroy();
  assertEquals(counts.active, 0);
});
