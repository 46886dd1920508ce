import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { parseCluster } from "./cluster_info.ts";
import type { DnsLookupFamily, DnsResolver, DnsResult, ResolveOptions } from "./dns.ts";
import { DnsMembership, type Timers } from "./dns_cluster.ts";
import { PrioritySet } from "./priority_set.ts";
import { ClusterUpdateStats } from "./cluster_stats.ts";
import { Store } from "../stats/store.ts";

/** Timers that fire only when the test advances the clock. */
class FakeTimers implements Timers {
  now = 0;
  #next = 1;
  readonly pending = new Map<number, { at: number; cb: () => void }>();
  setTimeout(cb: () => void, ms: number): number {
    this.pending.set(this.#next, { at: this.now + ms, cb });
    return this.#next++;
  }
  clearTimeout(id: unknown): void {
    this.pending.delete(id as number);
  }
  /** Delays of the timers now pending, from now. */
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.at - this.now);
  }
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.pending].filter(([, t]) =>
        t.at <= until
      ).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].cb();
      await settle();
    }
    this.now = until;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Answers from a table the test edits; records every question. */
class FakeResolver implements DnsResolver {
  readonly answers = new Map<string, DnsResult | Error>();
  readonly calls: { name: string; family: DnsLookupFamily; options?: ResolveOptions }[] = [];
  resolve(name: string, family: DnsLookupFamily, options?: ResolveOptions): Promise<DnsResult> {
    this.calls.push({ name, family, options });
    const a = this.answers.get(name) ?? new Error(`no answer for ${name}`);
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  }
}

function config(json: JsonObject): ClusterConfig {
  return fromJson(messageSchema<ClusterConfig>("envoy.config.cluster.v3.Cluster"), json, {
    registry: apiRegistry(),
  });
}

function dnsCluster(type: string, names: [string, number][], extra: JsonObject = {}) {
  return config({
    name: "dns",
    type,
    load_assignment: {
      cluster_name: "dns",
      endpoints: names.map(([name, priority]) => ({
        priority,
        lb_endpoints: [{
          endpoint: { address: { socket_address: { address: name, port_value: 8080 } } },
        }],
      })),
    },
    ...extra,
  });
}

function setup(cfg: ClusterConfig, random = () => 0.5) {
  const { info, endpoints } = parseCluster(cfg);
  const set = new PrioritySet();
  const resolver = new FakeResolver();
  const timers = new FakeTimers();
  const dns = new DnsMembership(info, endpoints, set, { resolver, timers, random });
  const addresses = (p = 0) => set.hostSets[p]?.hosts.map((h) => h.address);
  return { set, resolver, timers, dns, addresses };
}

Deno.test("STRICT_DNS: every address is a host, re-resolved every dns_refresh_rate", async () => {
  const t = setup(dnsCluster("STRICT_DNS", [["a.example", 0]], { dns_refresh_rate: "2s" }));
  t.resolver.answers.set("a.example", { addresses: ["10.0.0.1", "10.0.0.2", "10.0.0.1"] });
  let updates = 0;
  t.set.onUpdate(() => updates++);
  await t.dns.start();
  assertEquals(t.addresses(), ["10.0.0.1", "10.0.0.2"]);
  const h = t.set.hostSets[0].hosts[0];
  assertEquals([h.port, h.hostname, h.weight, h.healthy], [8080, "a.example", 1, true]);
  assertEquals(t.timers.delays(), [2000]);

  t.resolver.answers.set("a.example", { addresses: ["10.0.0.2", "10.0.0.1"] });
  await t.timers.advance(2000);
  assertEquals(updates, 1, "the same addresses in another order are no change");

  t.resolver.answers.set("a.example", { addresses: ["10.0.0.3"] });
  await t.timers.advance(2000);
  assertEquals(t.addresses(), ["10.0.0.3"]);
  assertEquals(updates, 2);
  assertEquals(t.resolver.calls.length, 3);
  assertEquals(t.resolver.calls[0], {
    name: "a.example",
    family: "AUTO",
    options: { withTtl: false },
  });
  t.dns.stop();
  assertEquals(t.timers.pending.size, 0);
});

Deno.test("STRICT_DNS: targets keep their priorities; an empty answer removes hosts", async () => {
  const t = setup(dnsCluster("STRICT_DNS", [["a.example", 0], ["b.example", 1], ["c.example", 1]]));
  t.resolver.answers.set("a.example", { addresses: ["10.0.0.1"] });
  t.resolver.answers.set("b.example", { addresses: ["10.0.1.1"] });
  t.resolver.answers.set("c.example", { addresses: ["10.0.1.2", "10.0.1.3"] });
  await t.dns.start();
  assertEquals(t.addresses(0), ["10.0.0.1"]);
  assertEquals(t.addresses(1), ["10.0.1.1", "10.0.1.2", "10.0.1.3"]);
  t.resolver.answers.set("b.example", { addresses: [] });
  await t.timers.advance(5000);
  assertEquals(t.addresses(1), ["10.0.1.2", "10.0.1.3"]);
  t.dns.stop();
});

Deno.test("STRICT_DNS: a failure keeps the hosts and retries at the refresh rate", async () => {
  const t = setup(dnsCluster("STRICT_DNS", [["a.example", 0]]));
  t.resolver.answers.set("a.example", { addresses: ["10.0.0.1"] });
  await t.dns.start();
  t.resolver.answers.set("a.example", new Error("SERVFAIL"));
  await t.timers.advance(5000);
  assertEquals(t.addresses(), ["10.0.0.1"]);
  assertEquals(t.timers.delays(), [5000]);
  t.dns.stop();
});

Deno.test("STRICT_DNS: dns_failure_refresh_rate backs off with jitter up to the max", async () => {
  const t = setup(
    dnsCluster("STRICT_DNS", [["a.example", 0]], {
      dns_failure_refresh_rate: { base_interval: "1s", max_interval: "5s" },
    }),
    () => 0.5,
  );
  t.resolver.answers.set("a.example", new Error("timeout"));
  await t.dns.start();
  // Half of a ceiling that starts at the base and doubles up to the max: 1s, 2s, 4s, 5s, 5s.
  const delays = [t.timers.delays()[0]];
  for (let i = 0; i < 4; i++) {
    await t.timers.advance(delays[delays.length - 1]);
    delays.push(t.timers.delays()[0]);
  }
  assertEquals(delays, [500, 1000, 2000, 2500, 2500]);
  // Success resets the backoff and returns to the refresh rate.
  t.resolver.answers.set("a.example", { addresses: ["10.0.0.1"] });
  await t.timers.advance(2500);
  assertEquals(t.timers.delays(), [5000]);
  t.resolver.answers.set("a.example", new Error("timeout"));
  await t.timers.advance(5000);
  assertEquals(t.timers.delays(), [500]);
  t.dns.stop();
});

Deno.test("respect_dns_ttl: the answer's TTL sets the next refresh", async () => {
  const t = setup(dnsCluster("STRICT_DNS", [["a.example", 0]], { respect_dns_ttl: true }));
  t.resolver.answers.set("a.example", { addresses: ["10.0.0.1"], ttlSeconds: 30 });
  await t.dns.start();
  assertEquals(t.resolver.calls[0].options, { withTtl: true });
  assertEquals(t.timers.delays(), [30000]);
  // Without a TTL (the answer came from getaddrinfo) the refresh rate applies.
  t.resolver.answers.set("a.example", { addresses: ["10.0.0.1"] });
  await t.timers.advance(30000);
  assertEquals(t.timers.delays(), [5000]);
  t.dns.stop();
});

Deno.test("LOGICAL_DNS: one host at the first address; empty answers are failures", async () => {
  const t = setup(
    dnsCluster("LOGICAL_DNS", [["api.example", 0]], { dns_lookup_family: "V4_ONLY" }),
  );
  t.resolver.answers.set("api.example", { addresses: ["10.0.0.7", "10.0.0.8"] });
  await t.dns.start();
  assertEquals(t.addresses(), ["10.0.0.7"]);
  assertEquals(t.resolver.calls[0].family, "V4_ONLY");
  t.resolver.answers.set("api.example", { addresses: [] });
  await t.timers.advance(5000);
  assertEquals(t.addresses(), ["10.0.0.7"]);
  t.resolver.answers.set("api.example", { addresses: ["10.0.0.9"] });
  await t.timers.advance(5000);
  assertEquals(t.addresses(), ["10.0.0.9"]);
  assertEquals(t.set.hostSets[0].hosts[0].hostname, "api.example");
  t.dns.stop();
});

Deno.test("DNS cluster: answers arriving after stop are dropped", async () => {
  const t = setup(dnsCluster("STRICT_DNS", [["a.example", 0]]));
  let answer!: (r: DnsResult) => void;
  t.resolver.resolve = () => new Promise((r) => answer = r);
  const started = t.dns.start();
  t.dns.stop();
  answer({ addresses: ["10.0.0.1"] });
  await started;
  assertEquals(t.addresses(), []);
  assertEquals(t.timers.pending.size, 0);
});

Deno.test("DNS cluster: every configured level exists before resolution", () => {
  const t = setup(dnsCluster("STRICT_DNS", [["a.example", 2]]));
  assertEquals(t.set.hostSets.length, 3);
  assert(t.set.hostSets.every((s) => s.hosts.length === 0));
});

Deno.test("DNS clusters count Envoy's update stats: attempt, success, failure, no rebuild", async () => {
  const { info, endpoints } = parseCluster(dnsCluster("STRICT_DNS", [["a.example", 0]]));
  const store = new Store();
  const stats = new ClusterUpdateStats(store.scope("cluster.dns"));
  const set = new PrioritySet();
  const resolver = new FakeResolver();
  const timers = new FakeTimers();
  const dns = new DnsMembership(info, endpoints, set, {
    resolver,
    timers,
    random: () => 0.5,
    stats,
  });
  resolver.answers.set("a.example", { addresses: ["10.0.0.1"] });
  await dns.start();
  await timers.advance(5000); // same answer: no rebuild
  resolver.answers.set("a.example", new Error("SERVFAIL"));
  await timers.advance(5000);
  resolver.answers.set("a.example", { addresses: ["10.0.0.2"] });
  await timers.advance(5000);
  dns.stop();
  assertEquals(
    [stats.updateAttempt, stats.updateSuccess, stats.updateFailure, stats.updateNoRebuild]
      .map((c) => c.value),
    [4, 3, 1, 1],
  );
});
