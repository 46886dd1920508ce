/**
 * The stats the data path bumps, declared once per config object (HCM, cluster, listener) so
 * the per-request cost is an increment on a held object. Names follow Envoy, so dashboards
 * built on `http.<stat_prefix>.*`, `cluster.<name>.*` and `listener.<address>.*` work.
 */
import type { Counter, Gauge, Histogram } from "./metrics.ts";
import type { Scope } from "./store.ts";

/** `http.<stat_prefix>.*` of one connection manager. */
export class HttpConnManagerStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  /** downstream_rq_1xx .. downstream_rq_5xx, indexed by status / 100. */
  readonly rqClass: Counter[];
  readonly rqTime: Histogram;

  constructor(store: Scope, statPrefix: string) {
    const s = store.scope(`http.${statPrefix}`);
    this.cxTotal = s.counter("downstream_cx_total");
    this.cxActive = s.gauge("downstream_cx_active", "Accumulate");
    this.rqTotal = s.counter("downstream_rq_total");
    this.rqActive = s.gauge("downstream_rq_active", "Accumulate");
    this.rqClass = [1, 2, 3, 4, 5].map((c) => s.counter(`downstream_rq_${c}xx`));
    this.rqTime = s.histogram("downstream_rq_time", "Milliseconds");
  }

  /** Counts a finished request with its status and duration. */
  requestDone(status: number | undefined, ms: number): void {
    const c = status ? Math.floor(status / 100) : 0;
    if (c >= 1 && c <= 5) this.rqClass[c - 1].inc();
    this.rqTime.record(ms);
  }
}

/** `cluster.<name>.*` of one cluster (per isolate). */
export class ClusterStats {
  readonly rqTotal: Counter;
  readonly rqClass: Counter[];
  readonly rqTime: Histogram;
  readonly cxTotal: Counter;
  readonly cxConnectFail: Counter;
  readonly rqTimeout: Counter;

  constructor(store: Scope, name: string) {
    const s = store.scope(`cluster.${name}`);
    this.rqTotal = s.counter("upstream_rq_total");
    this.rqClass = [1, 2, 3, 4, 5].map((c) => s.counter(`upstream_rq_${c}xx`));
    this.rqTime = s.histogram("upstream_rq_time", "Milliseconds");
    this.cxTotal = s.counter("upstream_cx_total");
    this.cxConnectFail = s.counter("upstream_cx_connect_fail");
    this.rqTimeout = s.counter("upstream_rq_timeout");
  }

  /** Counts an upstream response with its status and time. */
  responded(status: number, ms: number): void {
    const c = Math.floor(status / 100);
    if (c >= 1 && c <= 5) this.rqClass[c - 1].inc();
    this.rqTime.record(ms);
  }
}

/** `listener.<address>.*` (address as Envoy names it: `0.0.0.0_10000`). */
export class ListenerStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly noFilterChainMatch: Counter;

  constructor(store: Scope, address: string) {
    const s = store.scope(`listener.${address.replace(/[:[\]]/g, (ch) => ch === ":" ? "_" : "")}`);
    this.cxTotal = s.counter("downstream_cx_total");
    this.cxActive = s.gauge("downstream_cx_active", "Accumulate");
    this.noFilterChainMatch = s.counter("no_filter_chain_match");
  }
}

/** Per-isolate cache of cluster stats, created on first use. */
export class ClusterStatsCache {
  readonly #byName = new Map<string, ClusterStats>();
  constructor(readonly store: Scope) {}

  get(name: string): ClusterStats {
    let s = this.#byName.get(name);
    if (!s) {
      s = new ClusterStats(this.store, name);
      this.#byName.set(name, s);
    }
    return s;
  }
}
