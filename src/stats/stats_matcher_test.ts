import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { StatsMatcher } from "../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import { compileStatsMatcher } from "./stats_matcher.ts";
import { NullCounter } from "./metrics.ts";
import { Store } from "./store.ts";

function matcher(json: JsonValue): (name: string) => boolean {
  const schema = messageSchema<StatsMatcher>("envoy.config.metrics.v3.StatsMatcher");
  return compileStatsMatcher(
    fromJson(schema, json, { registry: apiRegistry() }),
    "stats_config.stats_matcher",
  );
}

const NAMES = [
  "cluster.service_a.upstream_rq_total",
  "cluster_manager.active_clusters",
  "listener_manager.total_listeners_active",
  "http.ingress.downstream_rq_time",
];

function accepted(accepts: (name: string) => boolean): string[] {
  return NAMES.filter(accepts);
}

Deno.test("no matcher accepts every stat", () => {
  assertEquals(accepted(compileStatsMatcher(undefined, "m")), NAMES);
  assertEquals(accepted(matcher({})), NAMES);
});

Deno.test("reject_all", () => {
  assertEquals(accepted(matcher({ reject_all: true })), []);
  assertEquals(accepted(matcher({ reject_all: false })), NAMES);
});

Deno.test("exclusion_list rejects what any pattern matches (Envoy's example 2)", () => {
  assertEquals(accepted(matcher({ exclusion_list: { patterns: [{ prefix: "cluster." }] } })), [
    "cluster_manager.active_clusters",
    "listener_manager.total_listeners_active",
    "http.ingress.downstream_rq_time",
  ]);
});

Deno.test("inclusion_list accepts only what a pattern matches (Envoy's example 3)", () => {
  const m = matcher({
    inclusion_list: { patterns: [{ prefix: "cluster_manager." }, { prefix: "listener_manager." }] },
  });
  assertEquals(accepted(m), [
    "cluster_manager.active_clusters",
    "listener_manager.total_listeners_active",
  ]);
  const re = matcher({
    inclusion_list: { patterns: [{ safe_regex: { regex: String.raw`.*_rq_\w+` } }] },
  });
  assertEquals(accepted(re), [
    "cluster.service_a.upstream_rq_total",
    "http.ingress.downstream_rq_time",
  ]);
  const suffix = matcher({
    inclusion_list: { patterns: [{ suffix: "_TIME", ignore_case: true }] },
  });
  assertEquals(accepted(suffix), ["http.ingress.downstream_rq_time"]);
});

Deno.test("a rejected stat is a null object the caller can use", () => {
  const store = new Store({
    accepts: matcher({ exclusion_list: { patterns: [{ prefix: "cluster." }] } }),
  });
  const c = store.counter("cluster.service_a.upstream_rq_total");
  assert(c instanceof NullCounter);
  c.inc();
  assertEquals(c.value, 0);
  assertEquals(store.snapshot().counters, []);
});

Deno.test("a bad pattern names its place", () => {
  let err = "";
  try {
    matcher({ exclusion_list: { patterns: [{ prefix: "a" }, { safe_regex: { regex: "(" } }] } });
  } catch (e) {
    err = String(e);
  }
  assertMatch(err, /stats_config\.stats_matcher\.exclusion_list\.patterns\[1\]\.safe_regex\.regex/);
});
