/**
 * Outlier detection (Envoy's passive health checking), run once on the main thread per
 * cluster. Workers record every request's result in the host's shared monitor
 * (host_monitor.ts) and post a consecutive-error threshold the moment it is reached; the
 * detector ejects hosts (consecutive 5xx, gateway failures, local-origin failures at once;
 * success rate and failure percentage at each `interval` sweep), returns them after their
 * ejection time, and the cluster publishes the new host health to the workers, whose load
 * balancers then skip ejected hosts (unless in panic).
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { OutlierDetection } from "../../proto/gen/envoy/config/cluster/v3/outlier_detection_pb.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import {
  CONSECUTIVE_5XX,
  CONSECUTIVE_GATEWAY_FAILURE,
  CONSECUTIVE_LOCAL_ORIGIN_FAILURE,
  type ConsecutiveKind,
  EXTERNAL_SUCCESS,
  EXTERNAL_TOTAL,
  LOCAL_SUCCESS,
  LOCAL_TOTAL,
  setConsecutiveThresholds,
} from "./host_monitor.ts";
import { durationMs } from "../common/duration.ts";

/** `outlier_detection` with Envoy's defaults applied. */
export interface OutlierConfig {
  readonly consecutive5xx: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  readonly enforcingConsecutive5xx: number;
  readonly enforcingSuccessRate: number;
  readonly successRateMinimumHosts: number;
  readonly successRateRequestVolume: number;
  readonly successRateStdevFactor: number;
  readonly consecutiveGatewayFailure: number;
  readonly enforcingConsecutiveGatewayFailure: number;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly consecutiveLocalOriginFailure: number;
  readonly enforcingConsecutiveLocalOriginFailure: number;
  readonly enforcingLocalOriginSuccessRate: number;
  readonly failurePercentageThreshold: number;
  readonly enforcingFailurePercentage: number;
  readonly enforcingFailurePercentageLocalOrigin: number;
  readonly failurePercentageMinimumHosts: number;
  readonly failurePercentageRequestVolume: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionTimeJitterMs: number;
  readonly successfulActiveHealthCheckUnejectHost: boolean;
  readonly alwaysEjectOneHost: boolean;
}

/** Reads `outlier_detection`; problems (contradictory settings) go to `problems`. */
export function parseOutlierDetection(o: OutlierDetection, problems: string[]): OutlierConfig {
  const c: OutlierConfig = {
    consecutive5xx: o.consecutive5xx ?? 5,
    intervalMs: durationMs(o.interval, 10_000),
    baseEjectionTimeMs: durationMs(o.baseEjectionTime, 30_000),
    maxEjectionPercent: o.maxEjectionPercent ?? 10,
    enforcingConsecutive5xx: o.enforcingConsecutive5xx ?? 100,
    enforcingSuccessRate: o.enforcingSuccessRate ?? 100,
    successRateMinimumHosts: o.successRateMinimumHosts ?? 5,
    successRateRequestVolume: o.successRateRequestVolume ?? 100,
    successRateStdevFactor: o.successRateStdevFactor ?? 1900,
    consecutiveGatewayFailure: o.consecutiveGatewayFailure ?? 5,
    enforcingConsecutiveGatewayFailure: o.enforcingConsecutiveGatewayFailure ?? 0,
    splitExternalLocalOriginErrors: o.splitExternalLocalOriginErrors,
    consecutiveLocalOriginFailure: o.consecutiveLocalOriginFailure ?? 5,
    enforcingConsecutiveLocalOriginFailure: o.enforcingConsecutiveLocalOriginFailure ?? 100,
    enforcingLocalOriginSuccessRate: o.enforcingLocalOriginSuccessRate ?? 100,
    failurePercentageThreshold: o.failurePercentageThreshold ?? 85,
    enforcingFailurePercentage: o.enforcingFailurePercentage ?? 0,
    enforcingFailurePercentageLocalOrigin: o.enforcingFailurePercentageLocalOrigin ?? 0,
    failurePercentageMinimumHosts: o.failurePercentageMinimumHosts ?? 5,
    failurePercentageRequestVolume: o.failurePercentageRequestVolume ?? 50,
    maxEjectionTimeMs: durationMs(o.maxEjectionTime, 300_000),
    maxEjectionTimeJitterMs: durationMs(o.maxEjectionTimeJitter, 0),
    successfulActiveHealthCheckUnejectHost: o.successfulActiveHealthCheckUnejectHost ?? true,
    alwaysEjectOneHost: o.alwaysEjectOneHost ?? false,
  };
  if (c.intervalMs <= 0) problems.push("outlier_detection.interval: must be greater than 0");
  if (c.baseEjectionTimeMs <= 0) {
    problems.push("outlier_detection.base_ejection_time: must be greater than 0");
  }
  // Envoy refuses a cap below the base.
  if (c.baseEjectionTimeMs > c.maxEjectionTimeMs) {
    problems.push(
      "outlier_detection: max_ejection_time cannot be smaller than base_ejection_time",
    );
  }
  const percents: [string, number][] = [
    ["max_ejection_percent", c.maxEjectionPercent],
    ["enforcing_consecutive_5xx", c.enforcingConsecutive5xx],
    ["enforcing_success_rate", c.enforcingSuccessRate],
    ["enforcing_consecutive_gateway_failure", c.enforcingConsecutiveGatewayFailure],
    ["enforcing_consecutive_local_origin_failure", c.enforcingConsecutiveLocalOriginFailure],
    ["enforcing_local_origin_success_rate", c.enforcingLocalOriginSuccessRate],
    ["failure_percentage_threshold", c.failurePercentageThreshold],
    ["enforcing_failure_percentage", c.enforcingFailurePercentage],
    ["enforcing_failure_percentage_local_origin", c.enforcingFailurePercentageLocalOrigin],
  ];
  for (const [name, v] of percents) {
    if (v > 100) problems.push(`outlier_detection.${name}: ${v} is above 100`);
  }
  if (o.monitors.length > 0) {
    problems.push("outlier_detection.monitors: custom outlier monitors are not supported");
  }
  return c;
}

/** Mean and ejection threshold of success rates (Envoy's `successRateEjectionThreshold`). */
export function successRateEjectionThreshold(
  rates: readonly number[],
  stdevFactor: number,
): { mean: number; threshold: number } {
  let sum = 0;
  for (const r of rates) sum += r;
  const mean = sum / rates.length;
  let variance = 0;
  for (const r of rates) variance += (r - mean) ** 2;
  // The population standard deviation, as Envoy computes it; the factor is in thousandths.
  const stdev = Math.sqrt(variance / rates.length);
  return { mean, threshold: mean - (stdevFactor / 1000) * stdev };
}

/** The kinds of ejection, by Envoy's `OutlierEjectionType` names as they appear in stats. */
export type EjectionType =
  | "consecutive_5xx"
  | "consecutive_gateway_failure"
  | "consecutive_local_origin_failure"
  | "success_rate"
  | "local_origin_success_rate"
  | "failure_percentage"
  | "failure_percentage_local_origin";

const TYPES: readonly EjectionType[] = [
  "consecutive_5xx",
  "consecutive_gateway_failure",
  "consecutive_local_origin_failure",
  "success_rate",
  "local_origin_success_rate",
  "failure_percentage",
  "failure_percentage_local_origin",
];

/** `cluster.<name>.outlier_detection.*`. */
export class OutlierStats {
  readonly ejectionsActive: Gauge;
  readonly ejectionsOverflow: Counter;
  readonly ejectionsEnforcedTotal: Counter;
  /** Deprecated in Envoy but still counted there: `ejections_total`, `_consecutive_5xx`, `_success_rate`. */
  readonly ejectionsTotal: Counter;
  readonly ejectionsConsecutive5xx: Counter;
  readonly ejectionsSuccessRate: Counter;
  readonly detected: Record<EjectionType, Counter>;
  readonly enforced: Record<EjectionType, Counter>;

  constructor(cluster: Scope) {
    const s = cluster.scope("outlier_detection");
    this.ejectionsActive = s.gauge("ejections_active", "Accumulate");
    this.ejectionsOverflow = s.counter("ejections_overflow");
    this.ejectionsEnforcedTotal = s.counter("ejections_enforced_total");
    this.ejectionsTotal = s.counter("ejections_total");
    this.ejectionsConsecutive5xx = s.counter("ejections_consecutive_5xx");
    this.ejectionsSuccessRate = s.counter("ejections_success_rate");
    const detected = {} as Record<EjectionType, Counter>;
    const enforced = {} as Record<EjectionType, Counter>;
    for (const t of TYPES) {
      detected[t] = s.counter(`ejections_detected_${t}`);
      enforced[t] = s.counter(`ejections_enforced_${t}`);
    }
    this.detected = detected;
    this.enforced = enforced;
  }
}

/** `OutlierEjectionType` names of the event log, by ejection type. */
const EVENT_TYPES: Record<EjectionType, string> = {
  consecutive_5xx: "CONSECUTIVE_5XX",
  success_rate: "SUCCESS_RATE",
  consecutive_gateway_failure: "CONSECUTIVE_GATEWAY_FAILURE",
  consecutive_local_origin_failure: "CONSECUTIVE_LOCAL_ORIGIN_FAILURE",
  local_origin_success_rate: "SUCCESS_RATE_LOCAL_ORIGIN",
  failure_percentage: "FAILURE_PERCENTAGE",
  failure_percentage_local_origin: "FAILURE_PERCENTAGE_LOCAL_ORIGIN",
};

/**
 * Writes `cluster_manager.outlier_detection.event_log_path` lines: one
 * `envoy.data.cluster.v3.OutlierDetectionEvent` as JSON each.
 */
export type OutlierEventLog = (event: JsonObject) => void;

/** What the detector knows about one host. */
export class OutlierHostState {
  ejected = false;
  /** When it was last returned (performance.now()), for the event log. */
  lastUnejectionMs: number | undefined;
  numEjections = 0;
  /** Multiplies base_ejection_time; grows with each ejection, shrinks with each healthy sweep. */
  ejectTimeBackoff = 0;
  lastEjectionMs = 0;
  jitterMs = 0;
  /** The last interval's success rates in percent, or -1 without enough requests. */
  successRate = -1;
  localOriginSuccessRate = -1;
  #lastExt = [0, 0];
  #lastLocal = [0, 0];

  /** `key` is the host's `ip:port` (the event log's `upstream_url`). */
  constructor(readonly monitor: Int32Array, readonly key = "") {}

  /** Requests and successes since the previous sweep (external or local origin). */
  interval(local: boolean): { total: number; success: number } {
    const m = this.monitor;
    const [t, s] = local
      ? [Atomics.load(m, LOCAL_TOTAL), Atomics.load(m, LOCAL_SUCCESS)]
      : [Atomics.load(m, EXTERNAL_TOTAL), Atomics.load(m, EXTERNAL_SUCCESS)];
    const last = local ? this.#lastLocal : this.#lastExt;
    const out = { total: t - last[0], success: s - last[1] };
    last[0] = t;
    last[1] = s;
    return out;
  }
}

/** The hosts a detector watches, by their key within the cluster. */
export interface DetectorHosts {
  /** The state of host `key`, when it is a current host. */
  get(key: string): OutlierHostState | undefined;
  /** Every current host's state. */
  all(): Iterable<OutlierHostState>;
  /** How many hosts there are. */
  count(): number;
  /** Called after ejections or unejections, to publish the new health. */
  changed(): void;
}

/** One cluster's outlier detector. */
export class OutlierDetector {
  readonly config: OutlierConfig;
  readonly stats: OutlierStats;
  readonly #hosts: DetectorHosts;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #eventLog: OutlierEventLog | undefined;
  readonly #clusterName: string;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The last sweep's success rate average and threshold (-1 when not computed). */
  successRateAverage = -1;
  successRateEjectionThreshold = -1;
  localOriginSuccessRateAverage = -1;
  localOriginSuccessRateEjectionThreshold = -1;

  constructor(
    config: OutlierConfig,
    stats: OutlierStats,
    hosts: DetectorHosts,
    deps: {
      random?: () => number;
      now?: () => number;
      eventLog?: OutlierEventLog;
      clusterName?: string;
    } = {},
  ) {
    this.config = config;
    this.#eventLog = deps.eventLog;
    this.#clusterName = deps.clusterName ?? "";
    this.stats = stats;
    this.#hosts = hosts;
    this.#random = deps.random ?? Math.random;
    this.#now = deps.now ?? (() => performance.now());
  }

  /** Starts the interval sweeps. */
  start(): void {
    const tick = () => {
      this.sweep();
      this.#timer = setTimeout(tick, this.#settings().intervalMs);
    };
    this.#timer = setTimeout(tick, this.#settings().intervalMs);
  }

  /**
   * The config with Envoy's runtime overrides (`outlier_detection.<field>`, durations as
   * `<field>_ms`) applied, read when used so a runtime change applies from the next event.
   */
  #settings(): OutlierConfig {
    const c = this.config;
    const rt = runtimeSnapshot();
    const int = (key: string, v: number) => rt.getInteger(`outlier_detection.${key}`, v);
    return {
      ...c,
      consecutive5xx: int("consecutive_5xx", c.consecutive5xx),
      consecutiveGatewayFailure: int("consecutive_gateway_failure", c.consecutiveGatewayFailure),
      consecutiveLocalOriginFailure: int(
        "consecutive_local_origin_failure",
        c.consecutiveLocalOriginFailure,
      ),
      intervalMs: int("interval_ms", c.intervalMs),
      baseEjectionTimeMs: int("base_ejection_time_ms", c.baseEjectionTimeMs),
      maxEjectionPercent: int("max_ejection_percent", c.maxEjectionPercent),
      successRateMinimumHosts: int("success_rate_minimum_hosts", c.successRateMinimumHosts),
      successRateRequestVolume: int("success_rate_request_volume", c.successRateRequestVolume),
      successRateStdevFactor: int("success_rate_stdev_factor", c.successRateStdevFactor),
      failurePercentageThreshold: int("failure_percentage_threshold", c.failurePercentageThreshold),
      failurePercentageMinimumHosts: int(
        "failure_percentage_minimum_hosts",
        c.failurePercentageMinimumHosts,
      ),
      failurePercentageRequestVolume: int(
        "failure_percentage_request_volume",
        c.failurePercentageRequestVolume,
      ),
      maxEjectionTimeMs: int("max_ejection_time_ms", c.maxEjectionTimeMs),
      maxEjectionTimeJitterMs: int("max_ejection_time_jitter_ms", c.maxEjectionTimeJitterMs),
    };
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #enforce(type: EjectionType): boolean {
    const c = this.#settings();
    const [key, dflt] = {
      consecutive_5xx: ["enforcing_consecutive_5xx", c.enforcingConsecutive5xx],
      consecutive_gateway_failure: [
        "enforcing_consecutive_gateway_failure",
        c.enforcingConsecutiveGatewayFailure,
      ],
      consecutive_local_origin_failure: [
        "enforcing_consecutive_local_origin_failure",
        c.enforcingConsecutiveLocalOriginFailure,
      ],
      success_rate: ["enforcing_success_rate", c.enforcingSuccessRate],
      local_origin_success_rate: [
        "enforcing_local_origin_success_rate",
        c.enforcingLocalOriginSuccessRate,
      ],
      failure_percentage: ["enforcing_failure_percentage", c.enforcingFailurePercentage],
      failure_percentage_local_origin: [
        "enforcing_failure_percentage_local_origin",
        c.enforcingFailurePercentageLocalOrigin,
      ],
    }[type] as [string, number];
    return runtimeSnapshot().featureEnabledPercent(
      `outlier_detection.${key}`,
      dflt,
      Math.floor(this.#random() * 100),
    );
  }

  /**
   * A worker reached a consecutive-error threshold for host `key` (Envoy's
   * `onConsecutiveErrorWorker`): eject unless already ejected, and restart that count.
   */
  onConsecutiveError(key: string, kind: ConsecutiveKind): void {
    const st = this.#hosts.get(key);
    if (!st || st.ejected) return;
    const [type, slot]: [EjectionType, number] = kind === "5xx"
      ? ["consecutive_5xx", CONSECUTIVE_5XX]
      : kind === "gateway"
      ? ["consecutive_gateway_failure", CONSECUTIVE_GATEWAY_FAILURE]
      : ["consecutive_local_origin_failure", CONSECUTIVE_LOCAL_ORIGIN_FAILURE];
    this.stats.detected[type].inc();
    if (type === "consecutive_5xx") this.stats.ejectionsConsecutive5xx.inc();
    const ejected = this.#eject(st, type, this.#now());
    Atomics.store(st.monitor, slot, 0);
    if (ejected) this.#hosts.changed();
  }

  /** Ejects `st` within max_ejection_percent; true when its health changed. */
  #eject(st: OutlierHostState, type: EjectionType, now: number, hostRate = -1): boolean {
    if (st.ejected) return false;
    const c = this.#settings();
    const active = this.stats.ejectionsActive.value;
    const total = this.#hosts.count();
    const percent = 100 * (active + 1) / total;
    // At most max_ejection_percent of the hosts; with always_eject_one_host, one host is
    // ejectable when none is, whatever the percent.
    if (
      percent > Math.min(100, c.maxEjectionPercent) && !(active === 0 && c.alwaysEjectOneHost)
    ) {
      this.stats.ejectionsOverflow.inc();
      return false;
    }
    if (type === "consecutive_5xx" || type === "success_rate") this.stats.ejectionsTotal.inc();
    if (type === "success_rate") this.stats.ejectionsSuccessRate.inc();
    if (!this.#enforce(type)) {
      this.#log(st, type, "EJECT", false, now, hostRate);
      return false;
    }
    this.stats.ejectionsActive.inc();
    this.stats.ejectionsEnforcedTotal.inc();
    this.stats.enforced[type].inc();
    st.ejected = true;
    st.numEjections++;
    // The ejection time grows with each ejection until it reaches max_ejection_time.
    if (c.baseEjectionTimeMs * st.ejectTimeBackoff < c.maxEjectionTimeMs) st.ejectTimeBackoff++;
    st.lastEjectionMs = now;
    st.jitterMs = Math.floor(this.#random() * c.maxEjectionTimeJitterMs);
    this.#log(st, type, "EJECT", true, now, hostRate);
    return true;
  }

  #uneject(st: OutlierHostState): void {
    st.ejected = false;
    this.stats.ejectionsActive.dec();
    const now = this.#now();
    this.#log(st, undefined, "UNEJECT", false, now);
    st.lastUnejectionMs = now;
  }

  /** One event log line, as Envoy's outlier `EventLoggerImpl` writes it. */
  #log(
    st: OutlierHostState,
    type: EjectionType | undefined,
    action: "EJECT" | "UNEJECT",
    enforced: boolean,
    now: number,
    hostRate = -1,
  ): void {
    if (!this.#eventLog) return;
    // Seconds since the previous opposite action: the last return for an ejection, the
    // ejection for a return.
    const since = action === "EJECT" ? st.lastUnejectionMs : st.lastEjectionMs;
    const event: JsonObject = {
      type: type ? EVENT_TYPES[type] : "CONSECUTIVE_5XX",
      timestamp: new Date().toISOString(),
      ...(since !== undefined && (action === "UNEJECT" || st.numEjections > 0)
        ? { secs_since_last_action: String(Math.floor((now - since) / 1000)) }
        : {}),
      cluster_name: this.#clusterName,
      upstream_url: st.key,
      action,
      num_ejections: st.numEjections,
      enforced,
    };
    if (type === "success_rate" || type === "local_origin_success_rate") {
      const local = type === "local_origin_success_rate";
      event.eject_success_rate_event = {
        host_success_rate: Math.floor(hostRate),
        cluster_average_success_rate: Math.floor(
          local ? this.localOriginSuccessRateAverage : this.successRateAverage,
        ),
        cluster_success_rate_ejection_threshold: Math.floor(
          local ? this.localOriginSuccessRateEjectionThreshold : this.successRateEjectionThreshold,
        ),
      };
    } else if (type === "failure_percentage" || type === "failure_percentage_local_origin") {
      event.eject_failure_percentage_event = {
        host_success_rate: Math.floor(hostRate),
      };
    } else if (type) event.eject_consecutive_event = {};
    this.#eventLog(event);
  }

  /** An active health check passed: successful_active_health_check_uneject_host. */
  onActiveHealthCheckSuccess(key: string): boolean {
    const st = this.#hosts.get(key);
    if (!st?.ejected || !this.config.successfulActiveHealthCheckUnejectHost) return false;
    this.#uneject(st);
    return true;
  }

  /** A host left the cluster: its ejection ends with it. */
  hostRemoved(st: OutlierHostState): void {
    if (st.ejected) this.#uneject(st);
  }

  /**
   * The interval sweep (Envoy's `onIntervalTimer`): returns hosts whose ejection time passed,
   * then ejects success-rate and failure-percentage outliers of this interval's results.
   */
  sweep(): void {
    const now = this.#now();
    const c = this.#settings();
    let changed = false;
    for (const st of this.#hosts.all()) {
      // The workers compare against these: a runtime change reaches them here.
      setConsecutiveThresholds(
        st.monitor,
        c.consecutive5xx,
        c.consecutiveGatewayFailure,
        c.consecutiveLocalOriginFailure,
      );
      if (!st.ejected) {
        if (st.ejectTimeBackoff > 0) st.ejectTimeBackoff--;
        continue;
      }
      const ejectMs = Math.min(c.baseEjectionTimeMs * st.ejectTimeBackoff, c.maxEjectionTimeMs) +
        st.jitterMs;
      if (now - st.lastEjectionMs >= ejectMs) {
        this.#uneject(st);
        changed = true;
      }
    }
    if (this.#rates(false, now)) changed = true;
    if (c.splitExternalLocalOriginErrors && this.#rates(true, now)) changed = true;
    if (changed) this.#hosts.changed();
  }

  /** Success rate and failure percentage ejections of external (or local) origin results. */
  #rates(local: boolean, now: number): boolean {
    const c = this.#settings();
    const sr: [OutlierHostState, number][] = [];
    const fp: [OutlierHostState, number][] = [];
    for (const st of this.#hosts.all()) {
      const { total, success } = st.interval(local);
      const rate = total > 0 ? 100 * success / total : -1;
      const enough = total >= c.successRateRequestVolume;
      if (local) st.localOriginSuccessRate = enough ? rate : -1;
      else st.successRate = enough ? rate : -1;
      // Ejected hosts take part in neither statistic.
      if (st.ejected) continue;
      if (enough) sr.push([st, rate]);
      if (total >= c.failurePercentageRequestVolume) fp.push([st, rate]);
    }
    let changed = false;
    let average = -1;
    let threshold = -1;
    const computed = sr.length > 0 && sr.length >= c.successRateMinimumHosts;
    if (computed) {
      const t = successRateEjectionThreshold(sr.map(([, r]) => r), c.successRateStdevFactor);
      average = t.mean;
      threshold = t.threshold;
    }
    if (local) {
      this.localOriginSuccessRateAverage = average;
      this.localOriginSuccessRateEjectionThreshold = threshold;
    } else {
      this.successRateAverage = average;
      this.successRateEjectionThreshold = threshold;
    }
    if (computed) {
      const type: EjectionType = local ? "local_origin_success_rate" : "success_rate";
      for (const [st, rate] of sr) {
        if (rate >= threshold) continue;
        this.stats.detected[type].inc();
        if (this.#eject(st, type, now, rate)) changed = true;
      }
    }
    if (fp.length > 0 && fp.length >= c.failurePercentageMinimumHosts) {
      const type: EjectionType = local ? "failure_percentage_local_origin" : "failure_percentage";
      for (const [st, rate] of failurePercentageOutliers(fp, c.failurePercentageThreshold)) {
        this.stats.detected[type].inc();
        if (this.#eject(st, type, now, rate)) changed = true;
      }
    }
    return changed;
  }
}

/**
 * The entries whose failure percentage (100 - success rate) is at or above `threshold`
 * percent, as Envoy's failure-percentage ejection.
 */
export function failurePercentageOutliers<T>(
  hosts: readonly [T, number][],
  threshold: number,
): [T, number][] {
  return hosts.filter(([, rate]) => 100 - rate >= threshold);
}
