/**
 * Circuit breakers (Envoy's `ResourceManagerImpl`): per cluster and routing priority, the
 * connections, pending requests, requests, retries in flight and connection pools, counted across every worker
 * isolate in one SharedArrayBuffer with atomics (DESIGN principle 8). The main thread allocates
 * the memory with the cluster; workers get it with their init message and count into the same
 * cells, so `max_requests: 10` means ten for the whole process, as in Envoy.
 *
 * @module
 */
import type { CircuitBreakers } from "../../proto/gen/envoy/config/cluster/v3/circuit_breaker_pb.ts";
import type { SnapshotMerger } from "../stats/snapshot.ts";

/** `core.v3.RoutingPriority` names, by value. */
export const PRIORITIES = ["default", "high"] as const;
/** A routing priority: 0 = DEFAULT, 1 = HIGH. */
export type RoutingPriority = 0 | 1;

/** One priority's thresholds, Envoy's defaults filled in. */
export interface Thresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  /** `max_connection_pools`; unlimited (UINT32_MAX) unless set. */
  readonly maxConnectionPools: number;
  /** `retry_budget`: when set, it replaces `max_retries`. */
  readonly retryBudget?: { readonly budgetPercent: number; readonly minRetryConcurrency: number };
  /** `track_remaining`: publish `remaining_*` gauges. */
  readonly trackRemaining: boolean;
}

/** Envoy's defaults: 1024 connections, pending requests and requests, 3 retries. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  maxConnectionPools: 4294967295,
  trackRemaining: false,
};

/** Cells per priority: connections, pending requests, requests, retries, connection pools. */
const CELLS = 5;
const CX = 0;
const PENDING = 1;
const RQ = 2;
const RETRY = 3;
const POOLS = 4;

/** Cells of one group: both priorities' counters. */
const GROUP = PRIORITIES.length * CELLS;

/**
 * Shared memory for one cluster's counters: the totals, then each worker's own share of them
 * (`workerSlots` groups), so that what a worker that died held can be given back.
 */
export function allocateCircuitBreakerMemory(workerSlots = 0): SharedArrayBuffer {
  return new SharedArrayBuffer((1 + workerSlots) * GROUP * Int32Array.BYTES_PER_ELEMENT);
}

/**
 * Gives back what worker `workerId` held (it is gone: a crash or a watchdog kill), so its
 * requests and connections stop counting against the limits.
 */
export function releaseWorkerResources(memory: SharedArrayBuffer, workerId: number): void {
  const cells = new Int32Array(memory);
  const own = (1 + workerId) * GROUP;
  if (own + GROUP > cells.length) return;
  for (let i = 0; i < GROUP; i++) Atomics.sub(cells, i, Atomics.exchange(cells, own + i, 0));
}

/**
 * Reads `circuit_breakers`: the DEFAULT and HIGH thresholds (a priority listed twice takes
 * its last entry, as Envoy does). Pushes a problem for what is not implemented.
 */
export function parseCircuitBreakers(
  cb: CircuitBreakers | undefined,
  problems: string[],
): readonly [Thresholds, Thresholds] {
  const out: [Thresholds, Thresholds] = [DEFAULT_THRESHOLDS, DEFAULT_THRESHOLDS];
  if (!cb) return out;
  // Envoy reads only max_connections of a per-host threshold and ignores the rest; a limit
  // that would be ignored is refused instead.
  cb.perHostThresholds.forEach((t, i) => {
    const ignored = [
      ["max_pending_requests", t.maxPendingRequests],
      ["max_requests", t.maxRequests],
      ["max_retries", t.maxRetries],
      ["retry_budget", t.retryBudget],
      ["max_connection_pools", t.maxConnectionPools],
    ].filter(([, v]) => v !== undefined).map(([name]) => name);
    if (t.trackRemaining) ignored.push("track_remaining");
    for (const f of ignored) {
      problems.push(
        `circuit_breakers.per_host_thresholds[${i}].${f}: only max_connections applies per host`,
      );
    }
  });
  cb.thresholds.forEach((t, i) => {
    const at = `circuit_breakers.thresholds[${i}]`;
    if (t.priority !== 0 && t.priority !== 1) {
      problems.push(`${at}.priority: unknown routing priority ${t.priority}`);
      return;
    }
    const budget = t.retryBudget;
    out[t.priority] = {
      maxConnections: t.maxConnections ?? 1024,
      maxPendingRequests: t.maxPendingRequests ?? 1024,
      maxRequests: t.maxRequests ?? 1024,
      maxRetries: t.maxRetries ?? 3,
      maxConnectionPools: t.maxConnectionPools ?? DEFAULT_THRESHOLDS.maxConnectionPools,
      ...(budget
        ? {
          retryBudget: {
            budgetPercent: budget.budgetPercent?.value ?? 20,
            minRetryConcurrency: budget.minRetryConcurrency ?? 3,
          },
        }
        : {}),
      trackRemaining: t.trackRemaining,
    };
  });
  return out;
}

/**
 * One limited resource (Envoy's `ResourceLimit`): a shared count and its maximum.
 *
 * Per request that is two atomic read-modify-writes on the shared count (take, give back), as
 * Envoy's process-wide counters have. The worker's own share is written with plain stores:
 * only this worker writes it, and the main thread reads it only once the worker is gone, so a
 * locked instruction there (two more per request) bought nothing.
 */
export class ResourceLimit {
  /**
   * @param own this worker's share of the count in `cells`, or -1 (no worker slot).
   */
  constructor(
    readonly cells: Int32Array,
    readonly index: number,
    readonly limit: number,
    readonly own = -1,
  ) {}

  /** Whether one more may be created now. */
  canCreate(): boolean {
    return Atomics.load(this.cells, this.index) < this.max();
  }

  /** The maximum now. */
  max(): number {
    return this.limit;
  }

  inc(): void {
    Atomics.add(this.cells, this.index, 1);
    if (this.own >= 0) this.cells[this.own]++;
  }

  /**
   * Takes one if the maximum allows, atomically over every worker (a check then an increment
   * could let two isolates past the last one): true when taken.
   */
  tryCreate(): boolean {
    const cells = this.cells;
    const i = this.index;
    for (;;) {
      const cur = Atomics.load(cells, i);
      if (cur >= this.max()) return false;
      if (Atomics.compareExchange(cells, i, cur, cur + 1) === cur) {
        if (this.own >= 0) cells[this.own]++;
        return true;
      }
    }
  }

  dec(): void {
    Atomics.sub(this.cells, this.index, 1);
    if (this.own >= 0) this.cells[this.own]--;
  }

  /** How many exist now, over every worker. */
  count(): number {
    return Atomics.load(this.cells, this.index);
  }
}

/**
 * Retries in flight, limited by `max_retries`, or with a `retry_budget` by a share of the
 * requests active and pending (never below `min_retry_concurrency`).
 */
export class RetryLimit extends ResourceLimit {
  constructor(
    cells: Int32Array,
    index: number,
    limit: number,
    own: number,
    readonly budget: Thresholds["retryBudget"],
    readonly requests: ResourceLimit,
    readonly pending: ResourceLimit,
  ) {
    super(cells, index, limit, own);
  }

  override max(): number {
    const b = this.budget;
    if (!b) return this.limit;
    return retryBudgetMax(b, this.requests.count() + this.pending.count());
  }
}

/** A retry budget's maximum: its share of the requests `active` and pending, or its floor. */
function retryBudgetMax(b: NonNullable<Thresholds["retryBudget"]>, active: number): number {
  return Math.max(Math.floor(b.budgetPercent / 100 * active), b.minRetryConcurrency);
}

/** One priority's resources of one cluster. */
export class ResourceManager {
  readonly connections: ResourceLimit;
  readonly pendingRequests: ResourceLimit;
  readonly requests: ResourceLimit;
  readonly retries: RetryLimit;
  /** `max_connection_pools`: the pools this priority holds (conn_pool_limit.ts). */
  readonly connectionPools: ResourceLimit;

  /** @param ownGroup where this worker's share starts in `cells`, or -1. */
  constructor(
    cells: Int32Array,
    readonly priority: RoutingPriority,
    readonly thresholds: Thresholds,
    ownGroup = -1,
  ) {
    const base = priority * CELLS;
    const own = (i: number) => ownGroup < 0 ? -1 : ownGroup + base + i;
    this.connections = new ResourceLimit(cells, base + CX, thresholds.maxConnections, own(CX));
    this.pendingRequests = new ResourceLimit(
      cells,
      base + PENDING,
      thresholds.maxPendingRequests,
      own(PENDING),
    );
    this.requests = new ResourceLimit(cells, base + RQ, thresholds.maxRequests, own(RQ));
    this.retries = new RetryLimit(
      cells,
      base + RETRY,
      thresholds.maxRetries,
      own(RETRY),
      thresholds.retryBudget,
      this.requests,
      this.pendingRequests,
    );
    this.connectionPools = new ResourceLimit(
      cells,
      base + POOLS,
      thresholds.maxConnectionPools,
      own(POOLS),
    );
  }
}

/**
 * A cluster's resource managers, DEFAULT and HIGH, over its shared memory. Each is made on its
 * priority's first use: most clusters of a large config never see a HIGH request, and an idle
 * cluster none at all, in any isolate.
 */
export class ClusterResources {
  readonly thresholds: readonly [Thresholds, Thresholds];
  #cells: Int32Array | undefined;
  #ownGroup = -1;
  #default: ResourceManager | undefined;
  #high: ResourceManager | undefined;

  /** @param workerId the worker counting (its share is kept apart when the memory has room). */
  constructor(
    thresholds: readonly [Thresholds, Thresholds],
    readonly memory: SharedArrayBuffer,
    readonly workerId?: number,
  ) {
    this.thresholds = thresholds;
  }

  /** The shared counters: per priority, connections, pending, requests, retries, pools. */
  get cells(): Int32Array {
    if (this.#cells) return this.#cells;
    const cells = new Int32Array(this.memory);
    const own = this.workerId === undefined ? -1 : (1 + this.workerId) * GROUP;
    if (own >= 0 && own + GROUP <= cells.length) this.#ownGroup = own;
    return this.#cells = cells;
  }

  /** The resource manager of a routing priority (anything but HIGH is DEFAULT). */
  forPriority(priority: number): ResourceManager {
    if (priority === 1) return this.#high ??= this.#manager(1);
    return this.#default ??= this.#manager(0);
  }

  #manager(priority: RoutingPriority): ResourceManager {
    const cells = this.cells;
    return new ResourceManager(cells, priority, this.thresholds[priority], this.#ownGroup);
  }
}

/**
 * Whether any priority of `thresholds` limits connection pools: only then are a cluster's
 * pools counted (and deleted once idle), which keeps the pool lookup of other clusters as is.
 */
export function limitsConnectionPools(thresholds: readonly [Thresholds, Thresholds]): boolean {
  return thresholds.some((t) => t.maxConnectionPools < DEFAULT_THRESHOLDS.maxConnectionPools);
}

/**
 * `cluster.<name>.circuit_breakers.<priority>.*` (Envoy's `ALL_CLUSTER_CIRCUIT_BREAKERS_STATS`):
 * the `*_open` gauges, and the `remaining_*` ones with `track_remaining`. They describe the
 * shared counters, so the main thread sets them from the shared memory when stats are read.
 * An `*_open` gauge is made only once its resource is seen in use (or its breaker open): until
 * then `fill` lists it as an unused zero, as Envoy shows a resource never counted, and a
 * config of many clusters holds no gauge objects for clusters that take no traffic (the
 * `remaining_*` ones, which are not zero, are made at once).
 */
export class CircuitBreakerStats {
  readonly #store: GaugeStore;
  readonly #resources: ClusterResources;
  readonly #statName: string;
  /** By priority, then cell: the `*_open` gauges at 0-4, the `remaining_*` at 5-9; on use. */
  #gauges: ({ set(v: number): void } | undefined)[] | undefined;

  constructor(store: GaugeStore, statName: string, resources: ClusterResources) {
    this.#store = store;
    this.#resources = resources;
    this.#statName = statName;
    resources.thresholds.forEach((t, p) => {
      if (!t.trackRemaining) return;
      for (let cell = 0; cell < CELLS; cell++) {
        this.#gauge(p, cell);
        this.#gauge(p, CELLS + cell);
      }
    });
    this.update();
  }

  /**
   * Sets every gauge from the shared counters. They are read straight from the cells, so the
   * main thread makes no resource manager for clusters it never sends a request to.
   */
  update(): void {
    const cells = this.#resources.cells;
    this.#resources.thresholds.forEach((t, p) => {
      const base = p * CELLS;
      const count = (cell: number) => Atomics.load(cells, base + cell);
      const max = (cell: number) =>
        cell === RETRY && t.retryBudget
          ? retryBudgetMax(t.retryBudget, count(RQ) + count(PENDING))
          : limitOf(t, cell);
      for (let cell = 0; cell < CELLS; cell++) {
        const n = count(cell);
        const open = n < max(cell) ? 0 : 1;
        // Envoy sets (and so marks used) an `*_open` gauge when its resource is counted.
        const made = this.#gauges?.[p * 2 * CELLS + cell];
        (made ?? (n > 0 || open ? this.#gauge(p, cell) : undefined))?.set(open);
      }
      if (!t.trackRemaining) return;
      for (let cell = 0; cell < CELLS; cell++) {
        // With a retry budget the remaining count depends on other resources: Envoy shows 0.
        const remaining = cell === RETRY && t.retryBudget ? 0 : max(cell) - count(cell);
        this.#gauges![p * 2 * CELLS + CELLS + cell]!.set(Math.max(0, remaining));
      }
    });
  }

  /** Adds to `m` each `*_open` gauge not made yet, as an unused zero (that `decl` accepts). */
  fill(m: SnapshotMerger, decl: { accepts(name: string): boolean }): void {
    for (let p = 0; p < PRIORITIES.length; p++) {
      for (let cell = 0; cell < CELLS; cell++) {
        if (this.#gauges?.[p * 2 * CELLS + cell]) continue;
        const name = this.#name(p, cell);
        if (decl.accepts(name)) m.gauge(name, 0, "NeverImport", false);
      }
    }
  }

  /** Makes gauge `slot` (0-4: open, 5-9: remaining) of priority `p`. */
  #gauge(p: number, slot: number): { set(v: number): void } {
    const gauges = this.#gauges ??= [];
    return gauges[p * 2 * CELLS + slot] = this.#store.gauge(this.#name(p, slot), "NeverImport");
  }

  #name(p: number, slot: number): string {
    const n = slot < CELLS ? OPEN_GAUGES[slot] : REMAINING_GAUGES[slot - CELLS];
    return `cluster.${this.#statName}.circuit_breakers.${PRIORITIES[p]}.${n}`;
  }
}

/** Where `CircuitBreakerStats` makes its gauges: the main thread's store. */
export interface GaugeStore {
  gauge(name: string, mode: "Accumulate" | "NeverImport"): { set(v: number): void };
}

/** The `*_open` gauges, in cell order (connections, pending, requests, retries, pools). */
const OPEN_GAUGES = ["cx_open", "rq_pending_open", "rq_open", "rq_retry_open", "cx_pool_open"];
/** The `remaining_*` gauges (`track_remaining`), in cell order. */
const REMAINING_GAUGES = [
  "remaining_cx",
  "remaining_pending",
  "remaining_rq",
  "remaining_retries",
  "remaining_cx_pools",
];

/** The fixed maximum of a cell. */
function limitOf(t: Thresholds, cell: number): number {
  switch (cell) {
    case CX:
      return t.maxConnections;
    case PENDING:
      return t.maxPendingRequests;
    case RQ:
      return t.maxRequests;
    case RETRY:
      return t.maxRetries;
    default:
      return t.maxConnectionPools;
  }
}

/**
 * `circuit_breakers.per_host_thresholds`: the connections each host may have open, process
 * wide. As Envoy documents, only `max_connections` is read there (the last entry that sets it
 * wins); undefined when no entry limits connections.
 */
export function perHostMaxConnections(cb: CircuitBreakers | undefined): number | undefined {
  let max: number | undefined;
  for (const t of cb?.perHostThresholds ?? []) {
    if (t.maxConnections !== undefined) max = t.maxConnections;
  }
  return max;
}
