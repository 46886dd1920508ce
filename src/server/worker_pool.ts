/**
 * The main thread's view of its worker isolates: starts them, sends them config and updates,
 * replaces a worker that crashes (without touching the others' connections), and stops them.
 */
import { getLogger } from "../common/logger.ts";
import { newActivityBoard } from "../common/idle_memory_release.ts";
import type { FromWorker, ToWorker } from "./worker.ts";
import { type PackedSnapshot, PackedStatsTable } from "../stats/packed_snapshot.ts";
import type { HostStatsSnapshot } from "../upstream/host_stats.ts";
import type { HostEvent } from "../upstream/host_monitor.ts";
import type { Scope } from "../stats/store.ts";
import { GuardDog, type GuardDogConfig, newHeartbeat } from "./watchdog.ts";
import type { DrainStrategy } from "./options.ts";
import {
  balancerIndex,
  type BalancerMemory,
  claimedBalancerIndexes,
  ExactConnectionBalancer,
} from "../listener/connection_balancer.ts";
import { dropHandedOff, type HandedOffSocket } from "../listener/connection_handoff.ts";

const log = getLogger("main");

/** How long a stopping worker may take to drain and flush before it is terminated. */
const STOP_TIMEOUT_MS = 10_000;

let workerEntry = new URL("./worker_entry.ts", import.meta.url);

/**
 * Makes `url` the module that new pools start their workers from. The bundle is one file, so
 * it starts its workers from itself (main.ts sends a worker isolate to `worker_entry.ts`).
 */
export function useWorkerEntry(url: URL): void {
  workerEntry = url;
}

interface Slot {
  id: number;
  worker: Worker;
  stopped?: () => void;
  /** The names of this worker's stats, as far as the main thread has learnt them. */
  stats: PackedStatsTable;
  /** Bumped by the worker's event loop, read by the guard dog. */
  heartbeat: Int32Array;
  /** The worker answered `init` (it is watched from then on). */
  started: boolean;
}

/** One worker's packed stats and the table that names them. */
export interface PackedStats {
  table: PackedStatsTable;
  packed: PackedSnapshot;
  /**
   * The last stats of a worker that crashed and was replaced: its counters and histograms
   * still count towards the totals (as in one process), its gauges are gone with it.
   */
  retired?: boolean;
}

/** N workers running `worker_entry.ts`. */
export class WorkerPool {
  #slots: Slot[] = [];
  #init: ((id: number) => ToWorker) | undefined;
  #stopping = false;
  /** Workers replaced after crashing (`server.worker_restarts`). */
  restarts = 0;
  /** Called with the slot of a worker that is gone (crashed or killed), before its successor. */
  onWorkerGone: ((id: number) => void) | undefined;

  #prespawned: Worker[] = [];
  /**
   * Where each worker slot publishes its data-path activity, so that no isolate releases
   * memory while another serves (idle_memory_release.ts); made by `start`.
   */
  activity: Int32Array | undefined;
  readonly #entry: URL;
  #guardDog: GuardDog | undefined;
  /** Where workers' host reports go (the cluster manager's outlier detectors, health checkers). */
  onHostEvent: ((monitorId: number, event: HostEvent) => void) | undefined;
  /** The exact balancers' shared counts, when a listener is balanced (connection_balancer.ts). */
  balancers: BalancerMemory | undefined;
  /** A worker's request asks for a virtual host on demand (VHDS). */
  onVhdsDemand: ((routeConfig: string, host: string) => void) | undefined;
  /** A worker's request needs the route configuration of an on-demand scope (SRDS). */
  onSrdsDemand: ((scopedRoutes: string, routeConfig: string) => void) | undefined;

  /** A pool of workers running `entry` (the real worker unless a test gives its own). */
  constructor(entry: URL = workerEntry) {
    this.#entry = entry;
  }

  #newWorker(): Worker {
    return new Worker(this.#entry, { type: "module" });
  }

  /**
   * Creates `n` workers now, so they load their modules while the main thread is still
   * loading config (start-up time is mostly module loading, and it overlaps this way).
   */
  prespawn(n: number): void {
    for (let i = 0; i < n; i++) this.#prespawned.push(this.#newWorker());
  }

  /**
   * Starts `n` workers. Resolves as soon as worker 0 serves every listener (rejecting if it
   * cannot: a start error there is a config or bind error every worker would hit); the others
   * start after it, and `rest` settles when they serve too.
   *
   * Why one first: on a 2-core machine, isolates that load their modules at the same time
   * compete with each other and with the main thread, so the first connection is accepted
   * ~150 ms later than with one isolate starting alone. A connection never waits for a
   * worker that is still loading: the listener sockets join the reuse-port group only once a
   * worker binds them.
   */
  async start(n: number, init: (id: number) => ToWorker): Promise<{ rest: Promise<void> }> {
    this.#init = init;
    this.activity = newActivityBoard(n);
    await this.#spawn(0);
    // Creating a Worker blocks this thread for ~45 ms: the others are created on a later
    // turn, after the caller has announced the first one serving.
    const rest = new Promise<void>((r) => setTimeout(r, 0))
      .then(() =>
        this.#stopping
          ? undefined
          : Promise.all(Array.from({ length: n - 1 }, (_, i) => this.#spawn(i + 1)))
      )
      .then(() => {
        for (const w of this.#prespawned.splice(0)) w.terminate();
      });
    return { rest };
  }

  /**
   * Watches the workers' event loops from this thread (Envoy's worker guard dog): stalls are
   * counted in `store` (`server.worker_<id>.watchdog_miss`, `workers.watchdog_mega_miss`, ...).
   *
   * `kill_timeout`: Envoy aborts the whole process when one thread is stuck that long. Here a
   * worker is an isolate that can be interrupted and replaced alone, so that is what happens:
   * the stuck worker is terminated (its connections are lost, as they would be in Envoy) and a
   * fresh one takes its slot, counted in `server.worker_restarts` and logged as critical; the
   * other workers and their connections are untouched. `multikill_timeout` (several workers
   * stuck at once: something systemic) calls `multikill`, which aborts the process as Envoy
   * does, for the supervisor to restart it.
   */
  watch(
    config: GuardDogConfig,
    store: Scope,
    multikill: (ids: number[], stalledMs: number) => void,
  ): void {
    const dog = new GuardDog(store, "workers", config, {
      kill: (id, stalledMs) => this.#kill(id, stalledMs),
      multikill,
    });
    this.#guardDog = dog;
    for (const s of this.#slots) if (s?.started) dog.watch(s.id, s.heartbeat);
    dog.start();
  }

  /** `kill_timeout` passed for worker `id`: terminate it and start a fresh one in its slot. */
  #kill(id: number, stalledMs: number): void {
    const slot = this.#slots[id];
    if (!slot) return;
    this.#guardDog?.unwatch(id);
    slot.worker.terminate();
    if (this.#stopping) {
      log.critical(
        `watchdog: worker ${id} unresponsive for ${Math.round(stalledMs)} ms: terminated`,
      );
      slot.stopped?.();
      return;
    }
    log.critical(
      `watchdog: worker ${id} unresponsive for ${Math.round(stalledMs)} ms ` +
        `(kill_timeout ${this.#guardDog?.config.killMs} ms): terminated and replaced`,
    );
    this.#replace(slot);
  }

  /**
   * Passes a connection a worker accepted to the worker its listener's balancer picked; one
   * whose worker is gone is closed (and uncounted), as its other connections were.
   */
  #handOff(socket: HandedOffSocket): void {
    const to = this.#slots[socket.worker];
    if (to) {
      to.worker.postMessage({ type: "handOff", socket } satisfies ToWorker);
      return;
    }
    dropHandedOff(socket);
    const b = this.balancers;
    const index = b && balancerIndex(b, socket.listener);
    if (index !== undefined) new ExactConnectionBalancer(b!, index).release(socket.worker);
  }

  /** Starts a fresh worker in the slot of one that is gone; what it counted stays counted. */
  #replace(slot: Slot): void {
    this.onWorkerGone?.(slot.id);
    // Its connections are gone with it: the balancers count none for its successor.
    const b = this.balancers;
    for (const i of b ? claimedBalancerIndexes(b) : []) {
      new ExactConnectionBalancer(b!, i).reset(slot.id);
    }
    const last = slot.stats.lastPacked;
    if (last) this.#retired.push({ table: slot.stats, packed: last, retired: true });
    this.restarts++;
    const id = slot.id;
    this.#spawn(id).catch((err) => log.critical(`worker ${id} restart failed: ${err.message}`));
  }

  #spawn(id: number): Promise<void> {
    const worker = this.#prespawned.shift() ?? this.#newWorker();
    const slot: Slot = {
      id,
      worker,
      stats: new PackedStatsTable(),
      heartbeat: newHeartbeat(),
      started: false,
    };
    this.#slots[id] = slot;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "ready") {
          started = true;
          slot.started = true;
          this.#guardDog?.watch(id, slot.heartbeat);
          log.debug(`worker ${id} ready`);
          worker.postMessage({ type: "initEnd" } satisfies ToWorker);
          resolve();
        } else if (m.type === "error") {
          if (!started) reject(new Error(m.message));
          else log.error(`worker ${id}: ${m.message}`);
        } else if (m.type === "stopped") slot.stopped?.();
        else if (m.type === "hostEvent") this.onHostEvent?.(m.monitorId, m.event);
        else if (m.type === "vhdsDemand") this.onVhdsDemand?.(m.routeConfig, m.host);
        else if (m.type === "srdsDemand") this.onSrdsDemand?.(m.scopedRoutes, m.routeConfig);
        else if (m.type === "handOff") this.#handOff(m.socket);
        else if (
          m.type === "stats" || m.type === "logsReopened" || m.type === "hostStats" ||
          m.type === "connections" || m.type === "draining"
        ) {
          this.#replies.get(m.id)?.(m);
        }
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        const msg = `worker ${id} crashed: ${e.message}`;
        if (!started) {
          reject(new Error(msg));
          return;
        }
        log.error(msg);
        this.#guardDog?.unwatch(id);
        worker.terminate();
        if (this.#stopping) {
          slot.stopped?.();
          return;
        }
        // Only this worker's connections were lost; a fresh one takes its place.
        this.#replace(slot);
      };
      const init = this.#init!(id);
      if (init.type === "init") {
        init.heartbeat = slot.heartbeat;
        init.activity = this.activity;
      }
      worker.postMessage(init);
    });
  }

  readonly #retired: PackedStats[] = [];
  /** Answers awaited from workers, by request id. */
  readonly #replies = new Map<number, (m: FromWorker) => void>();
  #nextRequestId = 1;

  /**
   * Asks every worker (`message` builds the request for a slot and an id) and resolves with
   * what `answer` makes of each reply; a worker that does not answer within `timeoutMs` (busy
   * or restarting) is left out rather than holding up the caller.
   */
  #askAll<T>(
    message: (s: Slot, id: number) => ToWorker,
    answer: (s: Slot, m: FromWorker) => T | undefined,
    timeoutMs: number,
  ): Promise<T[]> {
    const slots = this.#slots.filter(Boolean);
    return Promise.all(slots.map((s) =>
      new Promise<T | undefined>((resolve) => {
        const id = this.#nextRequestId++;
        const timer = setTimeout(() => {
          this.#replies.delete(id);
          resolve(undefined);
        }, timeoutMs);
        this.#replies.set(id, (m) => {
          clearTimeout(timer);
          this.#replies.delete(id);
          resolve(answer(s, m));
        });
        s.worker.postMessage(message(s, id));
      })
    )).then((all) => all.filter((x): x is Awaited<T> => x !== undefined));
  }

  /**
   * Every worker's stats, packed, each with the table that names them (see
   * `packed_snapshot.ts`), plus the last stats of crashed workers. `latch` (the stats flush
   * only) ends the workers' histogram intervals.
   */
  async collectStats(timeoutMs = 1000, latch = false): Promise<PackedStats[]> {
    const tables = new Map<Slot, PackedStatsTable>();
    const live = await this.#askAll<PackedStats>((s, id) => {
      tables.set(s, s.stats);
      return { type: "stats", id, latch, known: s.stats.known() };
    }, (s, m) => {
      const table = tables.get(s)!;
      // Only a table that is still this slot's learns from the reply (a worker replaced
      // meanwhile has a fresh table, and its own numbering).
      if (m.type !== "stats" || table !== s.stats) return undefined;
      try {
        table.learn(m.packed);
        return { table, packed: m.packed };
      } catch (e) {
        log.error(`worker ${s.id} stats: ${(e as Error).message}`);
        s.stats = new PackedStatsTable();
        return undefined;
      }
    }, timeoutMs);
    return [...live, ...this.#retired];
  }

  /**
   * Asks every worker to reopen its access log files; resolves once all did (a worker that
   * does not answer within `timeoutMs`, busy or restarting, is not waited for).
   */
  async reopenLogs(timeoutMs = 5000): Promise<void> {
    await this.#askAll((_, id) => ({ type: "reopenLogs", id }), () => true, timeoutMs);
  }

  /** Every worker's per-host stats (`/clusters`); a worker that does not answer is left out. */
  collectHostStats(timeoutMs = 1000): Promise<HostStatsSnapshot[]> {
    return this.#askAll(
      (_, id) => ({ type: "hostStats", id }),
      (_, m) => m.type === "hostStats" ? m.stats : undefined,
      timeoutMs,
    );
  }

  /** Downstream connections open on all workers (a worker that does not answer counts 0). */
  async connectionCount(timeoutMs = 1000): Promise<number> {
    const counts = await this.#askAll(
      (_, id) => ({ type: "connections", id }),
      (_, m) => m.type === "connections" ? m.count : undefined,
      timeoutMs,
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * Every worker drains its connections and stops accepting after `acceptForMs` (`drainAll`;
   * `shutdown`: every listener drains, `MODIFY_ONLY` ones too); resolves once all have (a
   * worker that does not answer in time is not waited for).
   */
  async drainAll(
    strategy: DrainStrategy,
    durationMs: number,
    opts: { acceptForMs?: number; shutdown?: boolean } = {},
  ): Promise<void> {
    const acceptForMs = opts.acceptForMs ?? 0;
    const shutdown = opts.shutdown ?? false;
    await this.#askAll(
      (_, id) => ({ type: "drainAll", id, strategy, durationMs, acceptForMs, shutdown }),
      (_, m) => m.type === "draining" ? true : undefined,
      acceptForMs + 5000,
    );
  }

  /** Sends a message to every worker. */
  broadcast(m: ToWorker): void {
    for (const s of this.#slots) s?.worker.postMessage(m);
  }

  /**
   * Asks every worker to close its listeners and flush, then terminates them. A worker whose
   * event loop is stuck (no heartbeat for the mega miss time) cannot drain: it is terminated
   * at once rather than after the stop timeout, so SIGTERM works with a worker stuck.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const w of this.#prespawned.splice(0)) w.terminate();
    const dog = this.#guardDog;
    await Promise.all(
      this.#slots.filter(Boolean).map((s) =>
        new Promise<void>((resolve) => {
          let poll: ReturnType<typeof setInterval> | undefined;
          const done = () => {
            clearTimeout(timer);
            clearInterval(poll);
            resolve();
          };
          const timer = setTimeout(done, STOP_TIMEOUT_MS);
          s.stopped = done;
          if (dog) {
            poll = setInterval(() => {
              const stalled = dog.stalledMs(s.id);
              if (stalled <= dog.config.megaMissMs) return;
              log.warn(`worker ${s.id} unresponsive for ${Math.round(stalled)} ms: not drained`);
              done();
            }, dog.intervalMs);
          }
          s.worker.postMessage({ type: "shutdown" } satisfies ToWorker);
        }).then(() => s.worker.terminate())
      ),
    );
    dog?.stop();
    this.#slots = [];
  }
}
