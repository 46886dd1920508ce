/**
 * Load balancer pick cost (issue 12: "round robin, least request, ring hash and Maglev each
 * ≤ 1 µs at 100 hosts; building a Maglev table for 1,000 hosts ≤ 50 ms"). In-process: each
 * policy picks from one priority level of 100 healthy hosts, timed over a batch of picks per
 * round; hash policies pick with precomputed 64-bit keys (the route's hash is measured
 * separately as "xxHash64 of a header value"). The Maglev build uses the default table size
 * (65537). Prints the median of the rounds.
 *
 * Usage: `deno run -A bench/lb_bench.ts [--rounds 5] [--picks 200000]`
 */
import { parseArgs } from "node:util";
import { xxHash64 } from "../src/common/hash.ts";
import type { HostDescription } from "../src/upstream/host.ts";
import type { LbSettings } from "../src/upstream/lb_base.ts";
import { createLoadBalancer } from "../src/upstream/load_balancer.ts";
import { DEFAULT_MAGLEV_TABLE_SIZE, MaglevTable } from "../src/upstream/maglev_lb.ts";
import { PrioritySet } from "../src/upstream/priority_set.ts";
import { DEFAULT_RING_HASH, RingHashTable } from "../src/upstream/ring_hash_lb.ts";
import { normalizeWeights, random64 } from "../src/upstream/thread_aware_lb.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    picks: { type: "string", default: "200000" },
  },
});
const ROUNDS = Number(values.rounds);
const PICKS = Number(values.picks);

const settings: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
};

function hosts(n: number, weighted = false): HostDescription[] {
  return Array.from({ length: n }, (_, i) => ({
    address: `10.0.${i >> 8}.${i & 255}`,
    port: 8080,
    weight: weighted ? 1 + (i % 4) : 1,
    priority: 0,
    locality: { region: "", zone: "", subZone: "" },
    hostname: "",
    healthy: true,
  }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median ns per call of `fn` over ROUNDS rounds of `n` calls (after one warm-up round). */
function perCall(n: number, fn: (i: number) => unknown): number {
  const rounds: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    const ns = (performance.now() - t0) * 1e6 / n;
    if (r > 0) rounds.push(ns);
  }
  return median(rounds);
}

function balancer(policy: string, list: HostDescription[], lb: LbSettings = settings) {
  const set = new PrioritySet();
  set.updateHosts(0, list);
  return createLoadBalancer({ lbPolicy: policy, lb }, set);
}

const keys = Array.from({ length: 4096 }, () => ({ hashKey: random64(Math.random) }));
const rows: [string, string][] = [];
const row = (what: string, ns: number) => rows.push([what, `${(ns / 1000).toFixed(3)} µs`]);

for (const weighted of [false, true]) {
  const list = hosts(100, weighted);
  const w = weighted ? " (weights 1-4)" : "";
  const rr = balancer("ROUND_ROBIN", list);
  row(`ROUND_ROBIN pick, 100 hosts${w}`, perCall(PICKS, () => rr.chooseHost()));
  const lr = balancer("LEAST_REQUEST", list);
  row(
    `LEAST_REQUEST pick + start/finish, 100 hosts${w}`,
    perCall(PICKS, () => {
      const h = lr.chooseHost()!;
      lr.requestStarted(h);
      lr.requestFinished(h);
    }),
  );
}
const list = hosts(100);
const ring = balancer("RING_HASH", list);
row(
  "RING_HASH pick, 100 hosts (ring 1100)",
  perCall(PICKS, (i) => ring.chooseHost(keys[i & 4095])),
);
const maglev = balancer("MAGLEV", list);
row(
  "MAGLEV pick, 100 hosts (table 65537)",
  perCall(PICKS, (i) => maglev.chooseHost(keys[i & 4095])),
);
row("RING_HASH pick without a hash (random key)", perCall(PICKS, () => ring.chooseHost()));
row("xxHash64 of a header value (user-12345)", perCall(PICKS, () => xxHash64("user-12345")));

const set1000 = new PrioritySet();
set1000.updateHosts(0, hosts(1000));
const weights1000 = normalizeWeights(set1000.hostSets[0], false, false);
const builds: number[] = [];
const ringBuilds: number[] = [];
for (let r = 0; r <= ROUNDS; r++) {
  let t0 = performance.now();
  new MaglevTable(weights1000, DEFAULT_MAGLEV_TABLE_SIZE, false);
  if (r > 0) builds.push(performance.now() - t0);
  t0 = performance.now();
  new RingHashTable(weights1000, DEFAULT_RING_HASH, false);
  if (r > 0) ringBuilds.push(performance.now() - t0);
}
rows.push(["MAGLEV table build, 1000 hosts (65537)", `${median(builds).toFixed(1)} ms`]);
rows.push(["RING_HASH ring build, 1000 hosts (ring 1024)", `${median(ringBuilds).toFixed(1)} ms`]);

console.log("| what | median |\n| --- | --- |");
for (const [what, v] of rows) console.log(`| ${what} | ${v} |`);
