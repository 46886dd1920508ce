/**
 * `circuit_breakers.thresholds[].max_connection_pools` (Envoy's `ConnPoolMap`): one worker's
 * connection pools of the clusters that limit them. Each pool is counted against its routing
 * priority's `connectionPools` limit, shared by every worker isolate (resource_manager.ts), and
 * is deleted as soon as it has no connection and no request left (Envoy's idle callback: the
 * connections closed by `common_http_protocol_options.idle_timeout`, or by draining when the
 * host left the cluster). As in Envoy, a pool is one per host, protocol, routing priority and
 * transport socket options (the SNI and SAN of `auto_sni`); when a new one would pass the limit,
 * an idle pool of the same host gives way, else the request gets no pool
 * (`upstream_cx_pool_overflow`, and the router answers 503 "no healthy upstream", flag UH).
 *
 * Clusters without the limit never come here: their pool lookup stays the plain map of
 * conn_pool.ts.
 *
 * tcp_proxy connections use Envoy's TCP pools, counted against the same limit: one per host
 * (DEFAULT priority) while any of its connections lasts ({@linkcode LimitedConnPools.acquireTcp},
 * {@linkcode PoolSlotLimit}). Envoy keys pools by the PROXY protocol state of the downstream
 * connection only when the cluster's transport socket is upstream_proxy_protocol; that case is
 * refused with max_connection_pools (cluster_info.ts), as denvoy's HTTP pools are not kept per
 * downstream connection.
 *
 * @module
 */
import type { ConnectionPoolInstance } from "../http/conn_pool.ts";
import { ResourceLimit } from "./resource_manager.ts";
import { HostStats } from "./host_stats.ts";

/** What a counted pool must offer besides being a pool. */
export interface LimitedPool extends ConnectionPoolInstance {
  /** No connection (open or being made) and no pending request. */
  readonly idle: boolean;
  /** Called when the pool becomes idle. */
  onIdle: (() => void) | undefined;
}

interface Entry {
  readonly key: string;
  readonly hostKey: string;
  readonly pool: LimitedPool;
  readonly limit: ResourceLimit;
}

/** What deleted pools of one host counted (`/clusters` keeps showing it). */
export interface RetiredHostStats {
  readonly cluster: string;
  readonly hostname: string;
  readonly port: number;
  readonly stats: HostStats;
}

/** A TCP pool: the tcp_proxy connections using it, and the limit it counts against. */
interface TcpEntry {
  users: number;
  readonly limit: ResourceLimit;
}

/** One worker's counted pools, by pool key and by host. */
export class LimitedConnPools {
  readonly #pools = new Map<string, Entry>();
  readonly #tcp = new Map<string, TcpEntry>();
  readonly #retired = new Map<string, RetiredHostStats>();
  /** `cluster|address|port` to the pools of that host (every protocol, priority, SNI). */
  readonly #byHost = new Map<string, Set<Entry>>();

  /**
   * The pool under `key` (a pool of the host `hostKey` counted against `limit`), created by
   * `create` when there is none and the limit allows; undefined on overflow, after counting it
   * in `overflow`.
   */
  get(
    key: string,
    hostKey: string,
    limit: ResourceLimit,
    create: () => LimitedPool,
    overflow: { inc(): void },
  ): LimitedPool | undefined {
    const found = this.#pools.get(key);
    if (found !== undefined) return found.pool;
    if (!limit.tryCreate()) {
      // Envoy's freeOnePool: an idle pool of this host (and priority) makes room.
      if (!this.#freeOne(hostKey, limit) || !limit.tryCreate()) {
        overflow.inc();
        return undefined;
      }
    }
    const pool = create();
    const e: Entry = { key, hostKey, pool, limit };
    this.#pools.set(key, e);
    let set = this.#byHost.get(hostKey);
    if (set === undefined) this.#byHost.set(hostKey, set = new Set());
    set.add(e);
    pool.onIdle = () => this.#erase(e);
    return pool;
  }

  #freeOne(hostKey: string, limit: ResourceLimit): boolean {
    const set = this.#byHost.get(hostKey);
    if (set === undefined) return false;
    for (const e of set) {
      if (e.limit === limit && e.pool.idle) {
        this.#erase(e);
        return true;
      }
    }
    return false;
  }

  /** Forgets a pool and gives its share of the limit back (once). */
  #erase(e: Entry): void {
    if (this.#pools.get(e.key) !== e) return;
    this.#pools.delete(e.key);
    e.pool.onIdle = undefined;
    e.limit.dec();
    const p = e.pool;
    let r = this.#retired.get(e.hostKey);
    if (r === undefined) {
      r = { cluster: p.cluster.name, hostname: p.hostname, port: p.port, stats: new HostStats() };
      this.#retired.set(e.hostKey, r);
    }
    for (const k of Object.keys(p.stats) as (keyof HostStats)[]) r.stats[k] += p.stats[k];
    const set = this.#byHost.get(e.hostKey);
    if (set !== undefined && set.delete(e) && set.size === 0) this.#byHost.delete(e.hostKey);
  }

  /**
   * A tcp_proxy connection to the host `hostKey` takes its TCP pool (a new one when the host
   * has none, if `limit` allows): the function that releases it, or undefined on overflow
   * (counted in `overflow`). The pool is deleted when its last connection releases it.
   */
  acquireTcp(
    hostKey: string,
    limit: ResourceLimit,
    overflow: { inc(): void },
  ): (() => void) | undefined {
    let e = this.#tcp.get(hostKey);
    if (e === undefined) {
      if (!limit.tryCreate()) {
        overflow.inc();
        return undefined;
      }
      e = { users: 0, limit };
      this.#tcp.set(hostKey, e);
    }
    e.users++;
    const entry = e;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      entry.limit.dec();
      if (this.#tcp.get(hostKey) === entry) this.#tcp.delete(hostKey);
    };
  }

  /** The host stats of the pools deleted so far. */
  get retired(): RetiredHostStats[] {
    return [...this.#retired.values()];
  }

  /** The pools to the host `cluster|address|port`. */
  forHost(hostKey: string): LimitedPool[] {
    const set = this.#byHost.get(hostKey);
    if (set === undefined) return [];
    const out: LimitedPool[] = [];
    for (const e of set) out.push(e.pool);
    return out;
  }

  /** Every pool held now. */
  pools(): LimitedPool[] {
    const out: LimitedPool[] = [];
    for (const e of this.#pools.values()) out.push(e.pool);
    return out;
  }

  /**
   * Drains and forgets every pool of `cluster` (replaced or removed): requests under way
   * finish on them, and their share of the limit is given back now, as Envoy's pools of a
   * removed cluster stop counting.
   */
  drainCluster(cluster: string): void {
    const prefix = `${cluster}|`;
    for (const e of [...this.#pools.values()]) {
      if (!e.key.startsWith(prefix)) continue;
      this.#erase(e);
      e.pool.drain();
    }
    for (const key of [...this.#retired.keys()]) {
      if (key.startsWith(prefix)) this.#retired.delete(key);
    }
  }

  /** Closes and forgets every pool (shutdown). */
  close(): void {
    for (const e of [...this.#pools.values()]) {
      this.#erase(e);
      e.pool.close();
    }
  }

  /** The number of pools held. */
  get size(): number {
    return this.#pools.size;
  }
}

/**
 * A tcp_proxy connection's `max_connections` share together with the TCP pool it uses (see
 * the module doc): the pool was taken before; `release` gives it back when the connection is
 * refused by `max_connections` or, later, released.
 */
export class PoolSlotLimit extends ResourceLimit {
  constructor(connections: ResourceLimit, readonly release: () => void) {
    super(connections.cells, connections.index, connections.limit, connections.own);
  }

  override tryCreate(): boolean {
    if (super.tryCreate()) return true;
    this.release();
    return false;
  }

  override dec(): void {
    super.dec();
    this.release();
  }
}
