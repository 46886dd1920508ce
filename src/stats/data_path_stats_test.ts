import { assertEquals } from "../testing/assert.ts";
import {
  ClusterStats,
  ClusterStatsCache,
  HttpConnManagerStats,
  listenerStatName,
  ListenerStats,
  RouterStats,
} from "./data_path_stats.ts";
import { Store } from "./store.ts";

function values(store: Store): Record<string, number> {
  const s = store.snapshot({ latch: false });
  const out: Record<string, number> = {};
  for (const c of s.counters) out[c.name] = c.value;
  for (const g of s.gauges) out[g.name] = g.value;
  for (const h of s.histograms) out[h.name] = h.cumulative.count;
  return out;
}

Deno.test("http stats: a request is completed only with a response status", () => {
  const store = new Store();
  const s = new HttpConnManagerStats(store, "ingress");
  s.requestDone(200, 3);
  s.requestDone(503, 1);
  s.requestDone(0, 2);
  const v = values(store);
  assertEquals(v["http.ingress.downstream_rq_2xx"], 1);
  assertEquals(v["http.ingress.downstream_rq_5xx"], 1);
  assertEquals(v["http.ingress.downstream_rq_completed"], 2);
  assertEquals(v["http.ingress.downstream_rq_time"], 3);
});

Deno.test("http stats: connections count who closed them and whether a request was active", () => {
  const store = new Store();
  const s = new HttpConnManagerStats(store, "p");
  s.connectionOpened();
  s.connectionOpened();
  s.connectionOpened();
  s.connectionClosed(true, false, 5);
  s.connectionClosed(false, true, 7);
  const v = values(store);
  assertEquals(v["http.p.downstream_cx_total"], 3);
  assertEquals(v["http.p.downstream_cx_http1_total"], 3);
  assertEquals(v["http.p.downstream_cx_active"], 1);
  assertEquals(v["http.p.downstream_cx_http1_active"], 1);
  assertEquals(v["http.p.downstream_cx_destroy"], 2);
  assertEquals(v["http.p.downstream_cx_destroy_remote"], 1);
  assertEquals(v["http.p.downstream_cx_destroy_local"], 1);
  assertEquals(v["http.p.downstream_cx_destroy_active_rq"], 1);
  assertEquals(v["http.p.downstream_cx_destroy_local_active_rq"], 1);
  assertEquals(v["http.p.downstream_cx_destroy_remote_active_rq"], 0);
  assertEquals(v["http.p.downstream_cx_length_ms"], 2);
});

Deno.test("router stats share the connection manager's prefix", () => {
  const store = new Store();
  const r = new RouterStats(store.scope("http.ingress"));
  r.noRoute.inc();
  r.rqTotal.inc();
  const http = new HttpConnManagerStats(store, "ingress");
  http.rqTotal.inc();
  const v = values(store);
  assertEquals(v["http.ingress.no_route"], 1);
  assertEquals(v["http.ingress.rq_total"], 1);
  assertEquals(v["http.ingress.downstream_rq_total"], 1);
});

Deno.test("cluster stats: codes charge plain and internal/external stats, per code too", () => {
  const store = new Store();
  const c = new ClusterStats(store, "backend");
  c.chargeCode(200, false);
  c.chargeCode(200, false);
  c.chargeCode(503, true);
  c.responseTime(4, false);
  const v = values(store);
  assertEquals(v["cluster.backend.upstream_rq_200"], 2);
  assertEquals(v["cluster.backend.upstream_rq_503"], 1);
  assertEquals(v["cluster.backend.upstream_rq_2xx"], 2);
  assertEquals(v["cluster.backend.upstream_rq_5xx"], 1);
  assertEquals(v["cluster.backend.upstream_rq_completed"], 3);
  assertEquals(v["cluster.backend.external.upstream_rq_200"], 2);
  assertEquals(v["cluster.backend.external.upstream_rq_completed"], 2);
  assertEquals(v["cluster.backend.internal.upstream_rq_503"], 1);
  assertEquals(v["cluster.backend.internal.upstream_rq_200"], undefined);
  assertEquals(v["cluster.backend.upstream_rq_time"], 1);
  assertEquals(v["cluster.backend.external.upstream_rq_time"], 1);
  assertEquals(v["cluster.backend.internal.upstream_rq_time"], 0);
});

Deno.test("cluster stats: an alt stat name gets its own code stats under the cluster", () => {
  const store = new Store();
  const c = new ClusterStats(store, "backend");
  assertEquals(c.alt("canary"), c.alt("canary"));
  c.alt("canary").chargeCode(201, true);
  c.alt("canary").responseTime(2, true);
  const v = values(store);
  assertEquals(v["cluster.backend.canary.upstream_rq_201"], 1);
  assertEquals(v["cluster.backend.canary.upstream_rq_2xx"], 1);
  assertEquals(v["cluster.backend.canary.upstream_rq_completed"], 1);
  assertEquals(v["cluster.backend.canary.internal.upstream_rq_201"], 1);
  assertEquals(v["cluster.backend.canary.internal.upstream_rq_time"], 1);
  assertEquals(v["cluster.backend.canary.external.upstream_rq_completed"], 0);
  assertEquals(v["cluster.backend.upstream_rq_completed"], 0);
});

Deno.test("cluster stats: closed connections are destroyed locally or remotely", () => {
  const store = new Store();
  const c = new ClusterStats(store, "b");
  c.cxActive.inc(3);
  c.connectionClosed(true, true, 1);
  c.connectionClosed(false, false, 2);
  const v = values(store);
  assertEquals(v["cluster.b.upstream_cx_active"], 1);
  assertEquals(v["cluster.b.upstream_cx_destroy"], 2);
  assertEquals(v["cluster.b.upstream_cx_destroy_remote"], 1);
  assertEquals(v["cluster.b.upstream_cx_destroy_local"], 1);
  assertEquals(v["cluster.b.upstream_cx_destroy_with_active_rq"], 1);
  assertEquals(v["cluster.b.upstream_cx_destroy_remote_with_active_rq"], 1);
  assertEquals(v["cluster.b.upstream_cx_length_ms"], 2);
});

Deno.test("cluster stats cache: one object per stat name, made on first use", () => {
  const store = new Store();
  const cache = new ClusterStatsCache(store);
  assertEquals(values(store)["cluster.a.upstream_rq_total"], undefined);
  assertEquals(cache.get("a"), cache.get("a"));
  assertEquals(values(store)["cluster.a.upstream_rq_total"], 0);
});

Deno.test("listener stats: Envoy's names, with the handler's own counts", () => {
  assertEquals(listenerStatName("127.0.0.1:10000"), "127.0.0.1_10000");
  assertEquals(listenerStatName("[::1]:10000"), "[__1]_10000");
  const store = new Store();
  const l = new ListenerStats(store, "127.0.0.1_80", "worker_1");
  l.connectionOpened();
  l.connectionOpened();
  l.connectionClosed(3);
  const v = values(store);
  assertEquals(v["listener.127.0.0.1_80.downstream_cx_total"], 2);
  assertEquals(v["listener.127.0.0.1_80.downstream_cx_active"], 1);
  assertEquals(v["listener.127.0.0.1_80.downstream_cx_destroy"], 1);
  assertEquals(v["listener.127.0.0.1_80.downstream_cx_length_ms"], 1);
  assertEquals(v["listener.127.0.0.1_80.worker_1.downstream_cx_total"], 2);
  assertEquals(v["listener.127.0.0.1_80.worker_1.downstream_cx_active"], 1);
});
