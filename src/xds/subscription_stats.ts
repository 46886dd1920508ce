/**
 * The stats every xDS subscription keeps (Envoy's `ALL_SUBSCRIPTION_STATS`), under the scope
 * of what subscribes: `cluster_manager.cds.`, `listener_manager.lds.`,
 * `http.<stat_prefix>.rds.<route_config_name>.`, `cluster.<name>.` (EDS).
 *
 * @module
 */
import { xxHash64 } from "../common/hash.ts";
import type { Counter, Gauge, Histogram, TextReadout } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";

/** Gauges hold JS numbers: the version hash keeps its low 53 bits (Envoy's is 64). */
const MASK_53 = (1n << 53n) - 1n;

/** One subscription's stats. */
export class SubscriptionStats {
  readonly updateAttempt: Counter;
  readonly updateSuccess: Counter;
  /** The update could not be fetched or read (connection, file, parse). */
  readonly updateFailure: Counter;
  /** The update was read but refused (a resource failed validation). */
  readonly updateRejected: Counter;
  /** An update that carried no resources. */
  readonly updateEmpty: Counter;
  readonly initFetchTimeout: Counter;
  /** When the last update was accepted (ms since the epoch). */
  readonly updateTime: Gauge;
  /** A hash of the last accepted version_info. */
  readonly version: Gauge;
  readonly versionText: TextReadout;
  readonly updateDuration: Histogram;

  constructor(store: Scope, prefix: string) {
    const s = store.scope(prefix);
    this.updateAttempt = s.counter("update_attempt");
    this.updateSuccess = s.counter("update_success");
    this.updateFailure = s.counter("update_failure");
    this.updateRejected = s.counter("update_rejected");
    this.updateEmpty = s.counter("update_empty");
    this.initFetchTimeout = s.counter("init_fetch_timeout");
    this.updateTime = s.gauge("update_time", "NeverImport");
    this.version = s.gauge("version", "NeverImport");
    this.versionText = s.textReadout("version_text");
    this.updateDuration = s.histogram("update_duration", "Milliseconds");
  }

  /** Records an accepted update of `versionInfo` that took `durationMs` to apply. */
  accepted(versionInfo: string, durationMs: number, nowMs = Date.now()): void {
    this.updateSuccess.inc();
    this.updateTime.set(nowMs);
    this.version.set(Number(xxHash64(versionInfo) & MASK_53));
    this.versionText.set(versionInfo);
    this.updateDuration.record(durationMs);
  }
}
