/**
 * The stats flush (Envoy's `InstanceImpl::flushStats`): on the main thread, every
 * `stats_flush_interval`, latch every isolate's stats, merge them and hand the snapshot to
 * each configured sink; a last flush at shutdown. Also builds the configured sinks, which
 * every isolate does for itself (workers need them for histogram values).
 */
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { getLogger } from "../common/logger.ts";
import { unpackAny } from "../config/any.ts";
import type { ExtensionRegistry } from "../config/extensions.ts";
import type { StatsSink, StatsSinkContext } from "../stats/sink.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";

const log = getLogger("main");

/**
 * Builds every sink of `stats_sinks` in the calling isolate. Throws an Error naming the sink
 * for one that cannot be built (unknown cluster, missing node info, ...).
 */
export function createStatsSinks(
  bootstrap: Pick<Bootstrap, "statsSinks">,
  extensions: ExtensionRegistry,
  ctx: StatsSinkContext,
): StatsSink[] {
  return bootstrap.statsSinks.map((s, i) => {
    const at = `stats_sinks[${i}] '${s.name}'`;
    if (s.configType.case !== "typedConfig") throw new Error(`${at}: typed_config is required`);
    const any = s.configType.value;
    const typeName = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    const factory = extensions.byType(typeName);
    const config = unpackAny(any);
    if (factory?.createStatsSink === undefined || config === undefined) {
      throw new Error(`${at}: unsupported stat sink (${any.typeUrl})`);
    }
    try {
      return factory.createStatsSink(config, ctx);
    } catch (e) {
      throw new Error(`${at}: ${(e as Error).message}`);
    }
  });
}

/** Runs the periodic flush to a fixed set of sinks. */
export class StatsFlusher {
  readonly #sinks: readonly StatsSink[];
  readonly #collect: () => Promise<StoreSnapshot>;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #inFlight: Promise<StoreSnapshot> | undefined;

  /**
   * @param collect takes the latched, merged snapshot of every isolate (only the flusher may
   *   latch: deltas are "since the previous flush").
   */
  constructor(
    sinks: readonly StatsSink[],
    collect: () => Promise<StoreSnapshot>,
    intervalMs: number,
  ) {
    this.#sinks = sinks;
    this.#collect = collect;
    this.#intervalMs = intervalMs;
  }

  /** Whether any sink is configured. */
  get hasSinks(): boolean {
    return this.#sinks.length > 0;
  }

  /**
   * Starts flushing every interval. Without sinks nothing is started: a flush would only
   * latch, and nothing reads latched deltas then (the admin computes its own view).
   */
  start(): void {
    if (this.#running || this.#sinks.length === 0) return;
    this.#running = true;
    this.#arm();
  }

  /**
   * Latches, merges and sends one snapshot to every sink; resolves with the snapshot. A flush
   * asked for while one runs joins it, so two never latch at once.
   */
  flush(): Promise<StoreSnapshot> {
    this.#inFlight ??= (async () => {
      try {
        const snapshot = await this.#collect();
        for (const sink of this.#sinks) {
          try {
            sink.flush(snapshot);
          } catch (e) {
            log.error(`stats sink flush failed: ${(e as Error).message}`);
          }
        }
        return snapshot;
      } finally {
        this.#inFlight = undefined;
      }
    })();
    return this.#inFlight;
  }

  /**
   * Stops the timer, flushes a last time when it was running (as Envoy does on shutdown, so
   * the final counts are not lost), and closes the sinks.
   */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    const wasRunning = this.#running;
    this.#running = false;
    // A flush under way took its snapshot before now: the last one must be taken after it.
    await this.#inFlight?.catch(() => {});
    if (wasRunning) {
      await this.flush().catch((e) => log.error(`final stats flush failed: ${e.message}`));
    }
    await Promise.all(this.#sinks.map((s) => s.close().catch(() => {})));
  }

  /** The next flush comes one interval after this one ends, as Envoy re-arms its timer. */
  #arm(): void {
    this.#timer = setTimeout(() => {
      this.flush()
        .catch((e) => log.error(`stats flush failed: ${e.message}`))
        .finally(() => {
          if (this.#running) this.#arm();
        });
    }, this.#intervalMs);
    this.#timer.unref();
  }
}
