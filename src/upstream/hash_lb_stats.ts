/**
 * The consistent-hash table gauges of a cluster, `cluster.<name>.ring_hash_lb.{size,
 * min_hashes_per_host,max_hashes_per_host}` and `cluster.<name>.maglev_lb.{min_entries_per_host,
 * max_entries_per_host}`. Envoy builds these tables once on the main thread and sets the gauges
 * from each table it builds (so with several priorities the last level's shape shows); the main
 * thread here builds them the same way at every membership update. Workers build their own
 * tables to pick from, so the gauges are counted once, not per worker.
 *
 * With `lb_subset_config` the tables are per subset, built only in the workers on demand: the
 * gauges are not published then rather than showing the shape of a table nobody uses.
 *
 * @module
 */
import type { Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import type { LbSettings } from "./lb_base.ts";
import { hashTableFactory } from "./load_balancer.ts";
import type { PrioritySet } from "./priority_set.ts";
import { buildHashLevels, type HashTableFactory, type TableShape } from "./thread_aware_lb.ts";

/** Gauges of a ring hash or Maglev cluster, kept current from its membership. */
export class HashLbStats {
  readonly #factory: HashTableFactory;
  readonly #settings: LbSettings;
  readonly #size: Gauge | undefined;
  readonly #min: Gauge;
  readonly #max: Gauge;

  private constructor(
    scope: Scope,
    ring: boolean,
    factory: HashTableFactory,
    settings: LbSettings,
  ) {
    this.#factory = factory;
    this.#settings = settings;
    if (ring) {
      const s = scope.scope("ring_hash_lb");
      this.#size = s.gauge("size", "NeverImport");
      this.#min = s.gauge("min_hashes_per_host", "NeverImport");
      this.#max = s.gauge("max_hashes_per_host", "NeverImport");
    } else {
      const s = scope.scope("maglev_lb");
      this.#min = s.gauge("min_entries_per_host", "NeverImport");
      this.#max = s.gauge("max_entries_per_host", "NeverImport");
    }
  }

  /** The gauges for a cluster whose policy builds a hash table; undefined for other policies. */
  static create(scope: Scope, lbPolicy: string, settings: LbSettings): HashLbStats | undefined {
    if (settings.subset) return undefined;
    const factory = hashTableFactory(lbPolicy, settings);
    if (!factory) return undefined;
    return new HashLbStats(scope, lbPolicy === "RING_HASH", factory, settings);
  }

  /** Rebuilds the tables of `set` and publishes the shape of the last one with hosts. */
  observe(set: PrioritySet): void {
    const { levels } = buildHashLevels(set, this.#settings, this.#factory);
    for (const level of levels) {
      const shape = (level.table as { shape?: TableShape }).shape;
      if (!shape) continue;
      this.#size?.set(shape.size);
      this.#min.set(shape.minPerHost);
      this.#max.set(shape.maxPerHost);
    }
  }
}
