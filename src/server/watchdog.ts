/**
 * Event loop stall detection with Envoy's watchdog stats and kill actions. Envoy's guard dog
 * thread checks that each thread touched its watchdog recently and counts a `watchdog_miss`
 * (default: no touch for 200 ms) or `watchdog_mega_miss` (1 s), once per stall.
 *
 * Workers are watched from the main thread, as Envoy's guard dog watches them from outside:
 * each worker writes the time of its last touch into shared memory from a timer
 * (`startHeartbeat`), and the main thread's `GuardDog` looks every loop interval (Envoy's: the
 * smallest threshold, 200 ms by default) how long ago that was. A worker stuck in a loop never
 * touches it, so the stall is seen while it lasts, not after: misses are counted, and
 * `kill_timeout` / `multikill_timeout` act on it (see `GuardDog`).
 *
 * The main thread watches itself (`Watchdog`): a timer that should tick every half miss
 * interval notes how long the loop really took to run it, and a late tick is one stall. Nothing
 * outside it could act on a stuck main thread, so its kill settings are reported as not applied.
 *
 * Stats, as Envoy names them: `server.<thread>.watchdog_miss` and `..._mega_miss` per thread
 * (`main_thread`, `worker_<id>`), and `<group>.watchdog_miss` per guard dog (`main_thread`,
 * `workers`). All of them live in the main thread's store.
 *
 * @module
 */
import type { Duration } from "@bufbuild/protobuf/wkt";
import type {
  Bootstrap,
  Watchdog as WatchdogConfig,
} from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type { Counter } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";

/** The thresholds of one guard dog, in ms. */
export interface WatchdogThresholds {
  missMs: number;
  megaMissMs: number;
}

/** A guard dog's thresholds and kill settings (0 = disabled, Envoy's default). */
export interface GuardDogConfig extends WatchdogThresholds {
  /** `kill_timeout`: one thread unresponsive this long is killed. */
  killMs: number;
  /** `multikill_timeout`: this many threads unresponsive this long... */
  multikillMs: number;
  /** `multikill_threshold`, a percentage of the watched threads (at least 2 of them). */
  multikillThreshold: number;
}

function ms(d: Duration | undefined, dflt: number): number {
  if (!d) return dflt;
  const v = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  return v > 0 ? v : dflt;
}

/**
 * The thresholds for the main thread or the workers: `watchdogs.main_thread_watchdog` /
 * `worker_watchdog`, else the deprecated `watchdog` for both, else Envoy's defaults (200 ms,
 * 1000 ms). The config check refuses kill settings for the main thread and watchdog actions.
 */
export function watchdogThresholds(
  bootstrap: Pick<Bootstrap, "watchdog" | "watchdogs">,
  which: "main_thread" | "workers",
): GuardDogConfig {
  const w = bootstrap.watchdogs;
  const cfg: WatchdogConfig | undefined = w
    ? (which === "main_thread" ? w.mainThreadWatchdog : w.workerWatchdog)
    : bootstrap.watchdog;
  const killMs = ms(cfg?.killTimeout, 0);
  const multikillMs = ms(cfg?.multikillTimeout, 0);
  return {
    missMs: ms(cfg?.missTimeout, 200),
    megaMissMs: ms(cfg?.megamissTimeout, 1000),
    killMs,
    multikillMs,
    multikillThreshold: cfg?.multikillThreshold?.value ?? 0,
  };
}

/** How often a watched thread touches its heartbeat: half the smaller threshold, as Envoy. */
export function heartbeatIntervalMs(t: WatchdogThresholds): number {
  return Math.max(1, Math.min(t.missMs, t.megaMissMs) / 2);
}

/**
 * Envoy's guard dog loop interval: the smallest of the thresholds that are set. The guard dog
 * looks that often, and a watched worker touches its heartbeat twice as often.
 */
export function loopIntervalMs(c: GuardDogConfig): number {
  const set = [c.missMs, c.megaMissMs, c.killMs, c.multikillMs].filter((v) => v > 0);
  return Math.max(1, Math.min(...set));
}

/**
 * A heartbeat shared between a worker (which touches it) and the main thread (which reads it):
 * the time of the worker's last touch, in whole ms of the worker's own clock, modulo 2^32.
 */
export function newHeartbeat(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

/** Records a touch at `now` (ms on this isolate's `performance.now()` clock). */
export function touchHeartbeat(heartbeat: Int32Array, now = performance.now()): void {
  Atomics.store(heartbeat, 0, Math.floor(now) | 0);
}

/** Touches `heartbeat` every `intervalMs` from this isolate's event loop; returns the stopper. */
export function startHeartbeat(heartbeat: Int32Array, intervalMs: number): () => void {
  const timer = setInterval(() => touchHeartbeat(heartbeat), intervalMs);
  timer.unref();
  touchHeartbeat(heartbeat);
  return () => clearInterval(timer);
}

/** What a guard dog does to unresponsive threads. */
export interface GuardDogActions {
  /** `kill_timeout` passed for thread `id` (once per stall). */
  kill(id: number, stalledMs: number): void;
  /** `multikill_timeout` passed for enough threads at once (`ids`). */
  multikill(ids: number[], stalledMs: number): void;
}

interface Watched {
  heartbeat: Int32Array;
  /** The touch last seen (the worker's clock), and when it happened on this thread's clock. */
  seen: number;
  touchedAt: number;
  missed: boolean;
  megaMissed: boolean;
  killed: boolean;
  miss: Counter;
  megaMiss: Counter;
}

/**
 * Envoy's guard dog for the workers, on the main thread: every loop interval it reads how long
 * ago each worker last touched its heartbeat and, per stall, counts one miss and one mega
 * miss, and applies `kill_timeout` and `multikill_timeout` through `actions`.
 *
 * A worker's clock is not this thread's (each isolate's `performance.now()` starts with the
 * isolate), and only differences of a worker's touches are used: when a newer touch shows up,
 * it happened that much after the one before. The first touch is placed at the moment the
 * worker is watched (it touched just before saying it was ready), which can only make it look
 * younger than it was; a touch placed in the future is brought back to now. So a stall is
 * never measured longer than it is, and the offset stays a few ms however long the worker
 * lives (nothing here wraps with the 32-bit clock).
 *
 * It used to sample a heartbeat counter four times per touch interval (every 25 ms, to time a
 * stall to within 25 ms), which woke the main thread 40 times a second for nothing while
 * serving; now it wakes five times, as Envoy's guard dog does.
 */
export class GuardDog {
  readonly #watched = new Map<number, Watched>();
  readonly #groupMiss: Counter;
  readonly #groupMegaMiss: Counter;
  #timer: ReturnType<typeof setInterval> | undefined;
  #multikilled = false;

  constructor(
    readonly store: Scope,
    readonly group: string,
    readonly config: GuardDogConfig,
    readonly actions: GuardDogActions,
    readonly now: () => number = () => performance.now(),
  ) {
    this.#groupMiss = store.counter(`${group}.watchdog_miss`);
    this.#groupMegaMiss = store.counter(`${group}.watchdog_mega_miss`);
  }

  /**
   * How often `step` runs once started: Envoy's loop interval, the smallest of the thresholds
   * that are set (the workers touch twice per interval).
   */
  get intervalMs(): number {
    return loopIntervalMs(this.config);
  }

  /** Watches thread `id` (`worker_<id>` in stat names) from now; replaces an earlier one. */
  watch(id: number, heartbeat: Int32Array): void {
    this.#watched.set(id, {
      heartbeat,
      seen: Atomics.load(heartbeat, 0),
      touchedAt: this.now(),
      missed: false,
      megaMissed: false,
      killed: false,
      miss: this.store.counter(`server.worker_${id}.watchdog_miss`),
      megaMiss: this.store.counter(`server.worker_${id}.watchdog_mega_miss`),
    });
  }

  unwatch(id: number): void {
    this.#watched.delete(id);
  }

  /** How long thread `id` has not touched its heartbeat (0 if it is not watched). */
  stalledMs(id: number): number {
    const w = this.#watched.get(id);
    return w ? this.now() - w.touchedAt : 0;
  }

  /** Whether thread `id` is in a stall longer than the miss threshold. */
  stalled(id: number): boolean {
    return this.stalledMs(id) > this.config.missMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.step(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One look at every heartbeat. */
  step(): void {
    const now = this.now();
    const c = this.config;
    const multi: number[] = [];
    let longest = 0;
    for (const [id, w] of this.#watched) {
      const v = Atomics.load(w.heartbeat, 0);
      if (v !== w.seen) {
        w.touchedAt = Math.min(now, w.touchedAt + ((v - w.seen) | 0));
        w.seen = v;
        w.missed = w.megaMissed = w.killed = false;
      }
      const stalled = now - w.touchedAt;
      if (stalled > c.missMs && !w.missed) {
        w.missed = true;
        w.miss.inc();
        this.#groupMiss.inc();
      }
      if (stalled > c.megaMissMs && !w.megaMissed) {
        w.megaMissed = true;
        w.megaMiss.inc();
        this.#groupMegaMiss.inc();
      }
      if (c.multikillMs > 0 && stalled >= c.multikillMs) {
        multi.push(id);
        longest = Math.max(longest, stalled);
      }
      if (c.killMs > 0 && stalled > c.killMs && !w.killed) {
        w.killed = true;
        this.actions.kill(id, stalled);
      }
    }
    // Envoy: max(2, ceil(registered threads * threshold)) threads unresponsive at once.
    const need = Math.max(2, Math.ceil(this.#watched.size * c.multikillThreshold / 100));
    if (multi.length >= need && !this.#multikilled) {
      this.#multikilled = true;
      this.actions.multikill(multi, longest);
    }
  }
}

/** Watches the calling isolate's event loop. */
export class Watchdog {
  readonly #miss: Counter[];
  readonly #megaMiss: Counter[];
  readonly #thresholds: WatchdogThresholds;
  readonly #now: () => number;
  #last: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param thread this thread's name in stat names (`main_thread`, `worker_0`).
   * @param group its guard dog's name (`main_thread`, `workers`).
   */
  constructor(
    store: Scope,
    thread: string,
    group: string,
    thresholds: WatchdogThresholds,
    now: () => number = () => performance.now(),
  ) {
    this.#miss = [
      store.counter(`server.${thread}.watchdog_miss`),
      store.counter(`${group}.watchdog_miss`),
    ];
    this.#megaMiss = [
      store.counter(`server.${thread}.watchdog_mega_miss`),
      store.counter(`${group}.watchdog_mega_miss`),
    ];
    this.#thresholds = thresholds;
    this.#now = now;
    this.#last = now();
  }

  /** How often the loop is expected to run the probe: half the smaller threshold, as Envoy. */
  get intervalMs(): number {
    return heartbeatIntervalMs(this.#thresholds);
  }

  /** Starts probing; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#last = this.#now();
    this.#timer = setInterval(() => this.touch(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The loop ran the probe: a gap since the previous run longer than a threshold was a stall
   * that long, counted once whatever its length.
   */
  touch(): void {
    const now = this.#now();
    const gap = now - this.#last;
    this.#last = now;
    if (gap > this.#thresholds.missMs) { for (const c of this.#miss) c.inc(); }
    if (gap > this.#thresholds.megaMissMs) { for (const c of this.#megaMiss) c.inc(); }
  }
}
