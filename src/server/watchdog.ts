/**
 * Event loop stall detection with Envoy's watchdog stats. Envoy's guard dog thread checks that
 * each thread touched its watchdog recently and counts a `watchdog_miss` (default: no touch for
 * 200 ms) or `watchdog_mega_miss` (1 s), once per stall. An isolate cannot be watched from
 * outside without sharing memory, so each isolate watches itself: a timer that should tick
 * every half miss interval notes how long the loop really took to run it. A tick that comes
 * later than a threshold is a stall that long, counted once, as Envoy would have seen it.
 *
 * Stats, as Envoy names them: `server.<thread>.watchdog_miss` and `..._mega_miss` per thread
 * (`main_thread`, `worker_<id>`), and `<group>.watchdog_miss` per guard dog (`main_thread`,
 * `workers`), which the merge of the workers' snapshots sums.
 *
 * Envoy's kill actions (`kill_timeout`, `multikill_timeout`, `actions`) need a thread outside
 * the stalled one; they are not implemented and are reported once at start-up.
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

function ms(d: Duration | undefined, dflt: number): number {
  if (!d) return dflt;
  const v = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  return v > 0 ? v : dflt;
}

/**
 * The thresholds for the main thread or the workers: `watchdogs.main_thread_watchdog` /
 * `worker_watchdog`, else the deprecated `watchdog` for both, else Envoy's defaults (200 ms,
 * 1000 ms). Also says which configured kill settings are not applied.
 */
export function watchdogThresholds(
  bootstrap: Pick<Bootstrap, "watchdog" | "watchdogs">,
  which: "main_thread" | "workers",
): WatchdogThresholds & { unsupported: string[] } {
  const w = bootstrap.watchdogs;
  const cfg: WatchdogConfig | undefined = w
    ? (which === "main_thread" ? w.mainThreadWatchdog : w.workerWatchdog)
    : bootstrap.watchdog;
  const unsupported: string[] = [];
  if (ms(cfg?.killTimeout, 0) > 0) unsupported.push("kill_timeout");
  if (ms(cfg?.multikillTimeout, 0) > 0) unsupported.push("multikill_timeout");
  if ((cfg?.actions.length ?? 0) > 0) unsupported.push("actions");
  return {
    missMs: ms(cfg?.missTimeout, 200),
    megaMissMs: ms(cfg?.megamissTimeout, 1000),
    unsupported,
  };
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
    return Math.max(1, Math.min(this.#thresholds.missMs, this.#thresholds.megaMissMs) / 2);
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
