/**
 * Envoy's overload manager, on the main thread: every `refresh_interval` it samples each
 * resource monitor's pressure, turns it into each action's and load shed point's value through
 * their triggers (an action takes the largest value of its triggers), records the stats, and
 * publishes the values in the overload state that every worker reads (overload_state.ts).
 *
 * Stats, as Envoy names them: `overload.<monitor>.pressure` (percent), `failed_updates`,
 * `skipped_updates`; `overload.<action>.active` (1 when saturated) and `scale_percent`;
 * `overload.<load shed point>.scale_percent`; `overload.refresh_interval_delay`.
 *
 * @module
 */
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type {
  OverloadManager as OverloadManagerConfig,
  ScaleTimersOverloadActionConfig,
  Trigger,
} from "../../proto/gen/envoy/config/overload/v3/overload_pb.ts";
import { unpackAny } from "../config/any.ts";
import { typeNameOfUrl } from "../config/api.ts";
import type { ExtensionRegistry } from "../config/extensions.ts";
import { durationMs } from "../common/duration.ts";
import { getLogger } from "../common/logger.ts";
import { reportBug } from "../common/error_boundary.ts";
import type { ResourceMonitor } from "../extensions/resource_monitors/resource_monitor.ts";
import type { Counter, Gauge, Histogram } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";
import {
  ACTION_SLOTS,
  GLOBAL_MAX_CONNECTIONS_KEY,
  listenerNames,
  LOAD_SHED_POINT_SLOTS,
  OverloadState,
  setOverloadState,
  TimerType,
} from "./overload_state.ts";

const log = getLogger("main");

/** Envoy's default refresh interval. */
const DEFAULT_REFRESH_MS = 1000;
/** The shortest refresh interval: pressure sampled at most every 10 ms. */
const MIN_REFRESH_MS = 10;

const SCALE_TIMERS = "envoy.config.overload.v3.ScaleTimersOverloadActionConfig";

/** Actions and load shed points Envoy has that denvoy does not implement, with why. */
const NOT_IMPLEMENTED: Readonly<Record<string, string>> = {
  "envoy.overload_actions.reset_high_memory_stream":
    "needs per-stream buffer accounting (buffer_factory_config), which denvoy does not keep",
  "envoy.overload_actions.close_idle_http_connections": "applies to HTTP/3, which denvoy lacks",
  "envoy.load_shed_points.http1_server_abort_dispatch": "not implemented",
  "envoy.load_shed_points.http2_server_go_away_on_dispatch": "not implemented",
  "envoy.load_shed_points.http2_server_go_away_and_close_on_dispatch": "not implemented",
  "envoy.load_shed_points.http3_server_go_away_on_dispatch": "HTTP/3 is not implemented",
  "envoy.load_shed_points.http3_server_go_away_and_close_on_dispatch": "HTTP/3 is not implemented",
  "envoy.load_shed_points.hcm_ondata_creating_codec": "not implemented",
  "envoy.load_shed_points.http_downstream_filter_check": "not implemented",
  "envoy.load_shed_points.connection_pool_new_connection": "not implemented",
};

/** A problem in `overload_manager`, at a path relative to the bootstrap. */
export interface OverloadProblem {
  path: string;
  message: string;
  /** Something Envoy has that denvoy does not implement (listed as unsupported). */
  unsupported?: boolean;
}

/**
 * What Envoy refuses when it builds the overload manager, and what denvoy does not implement:
 * duplicate monitors and actions, triggers on monitors that are not configured (or that have no
 * pressure), unknown actions and load shed points, bad scaled triggers, timer scaling.
 */
export function checkOverloadManager(
  b: Bootstrap,
  extensions: ExtensionRegistry,
): OverloadProblem[] {
  const om = b.overloadManager;
  if (!om) return [];
  const problems: OverloadProblem[] = [];
  const base = "overload_manager";
  const reactive = new Set<string>();
  const proactive = new Set<string>();
  om.resourceMonitors.forEach((m, i) => {
    const path = `${base}.resource_monitors[${i}]`;
    if (reactive.has(m.name) || proactive.has(m.name)) {
      problems.push({ path: `${path}.name`, message: `Duplicate resource monitor ${m.name}` });
    }
    const factory = monitorFactory(m, extensions);
    if (!factory) return; // the loader names the unsupported extension
    if (factory.name === "envoy.resource_monitors.global_downstream_max_connections") {
      proactive.add(m.name);
    } else reactive.add(m.name);
  });
  const checkTriggers = (triggers: Trigger[], path: string, what: string) => {
    const seen = new Set<string>();
    triggers.forEach((t, i) => {
      const at = `${path}.triggers[${i}]`;
      if (seen.has(t.name)) {
        problems.push({ path: `${at}.name`, message: `Duplicate trigger resource for ${what}` });
      }
      seen.add(t.name);
      if (proactive.has(t.name)) {
        problems.push({
          path: `${at}.name`,
          message: `${what}: resource monitor '${t.name}' limits connections itself and has ` +
            "no pressure to trigger on",
        });
      } else if (!reactive.has(t.name)) {
        problems.push({ path: `${at}.name`, message: `Unknown trigger resource ${t.name}` });
      }
      const s = t.triggerOneof;
      if (s.case === "scaled" && s.value.scalingThreshold >= s.value.saturationThreshold) {
        problems.push({
          path: `${at}.scaled`,
          message: "scaling_threshold must be less than saturation_threshold",
        });
      }
    });
  };
  const actions = new Set<string>();
  om.actions.forEach((a, i) => {
    const path = `${base}.actions[${i}]`;
    if (actions.has(a.name)) {
      problems.push({ path: `${path}.name`, message: `Duplicate overload action ${a.name}` });
    }
    actions.add(a.name);
    if (NOT_IMPLEMENTED[a.name]) {
      problems.push({
        path: `${path}.name`,
        message: `overload action '${a.name}': ${NOT_IMPLEMENTED[a.name]}`,
        unsupported: true,
      });
    } else if (ACTION_SLOTS[a.name] === undefined) {
      problems.push({ path: `${path}.name`, message: `Unknown Overload Manager Action ${a.name}` });
    }
    checkTriggers(a.triggers, path, `overload action ${a.name}`);
    if (!a.typedConfig) {
      if (a.name === "envoy.overload_actions.reduce_timeouts") {
        problems.push({
          path: `${path}.typed_config`,
          message: `${a.name} needs a typed_config (${SCALE_TIMERS})`,
        });
      }
      return;
    }
    const type = typeNameOfUrl(a.typedConfig.typeUrl);
    if (a.name !== "envoy.overload_actions.reduce_timeouts" || type !== SCALE_TIMERS) {
      problems.push({
        path: `${path}.typed_config`,
        message: `overload action '${a.name}' takes no typed_config of type ${type}`,
        unsupported: a.name === "envoy.overload_actions.shrink_heap",
      });
      return;
    }
    const cfg = unpackAny<ScaleTimersOverloadActionConfig>(a.typedConfig);
    cfg?.timerScaleFactors.forEach((t, j) => {
      const known = t.timer === TimerType.httpDownstreamConnectionIdle ||
        t.timer === TimerType.httpDownstreamStreamIdle;
      if (!known) {
        problems.push({
          path: `${path}.typed_config.timer_scale_factors[${j}].timer`,
          message: "reduce_timeouts: only HTTP_DOWNSTREAM_CONNECTION_IDLE and " +
            "HTTP_DOWNSTREAM_STREAM_IDLE timers are scaled (TRANSPORT_SOCKET_CONNECT is not)",
          unsupported: true,
        });
      }
    });
  });
  const points = new Set<string>();
  om.loadshedPoints.forEach((p, i) => {
    const path = `${base}.loadshed_points[${i}]`;
    if (points.has(p.name)) {
      problems.push({ path: `${path}.name`, message: `Duplicate load shed point ${p.name}` });
    }
    points.add(p.name);
    if (NOT_IMPLEMENTED[p.name]) {
      problems.push({
        path: `${path}.name`,
        message: `load shed point '${p.name}': ${NOT_IMPLEMENTED[p.name]}`,
        unsupported: true,
      });
    } else if (LOAD_SHED_POINT_SLOTS[p.name] === undefined) {
      problems.push({ path: `${path}.name`, message: `Unknown load shed point ${p.name}` });
    }
    checkTriggers(p.triggers, path, `load shed point ${p.name}`);
  });
  return problems;
}

function monitorFactory(
  m: OverloadManagerConfig["resourceMonitors"][number],
  extensions: ExtensionRegistry,
) {
  const url = m.configType.case === "typedConfig" ? m.configType.value.typeUrl : undefined;
  const f = url ? extensions.byType(typeNameOfUrl(url)) : extensions.byName(m.name);
  return f?.createResourceMonitor ? f : undefined;
}

/** The value a trigger gives for `pressure` (Envoy's threshold and scaled triggers). */
export function triggerValue(t: Trigger, pressure: number): number {
  const s = t.triggerOneof;
  if (s.case === "threshold") return pressure >= s.value.value ? 1 : 0;
  if (s.case === "scaled") {
    const { scalingThreshold: lo, saturationThreshold: hi } = s.value;
    if (pressure < lo) return 0;
    if (pressure >= hi) return 1;
    return (pressure - lo) / (hi - lo);
  }
  return 0;
}

interface Monitor {
  name: string;
  monitor: ResourceMonitor;
  pressure: number;
  pressureGauge: Gauge;
  failedUpdates: Counter;
  /** Envoy skips a refresh of a monitor whose last update is pending; denvoy's are synchronous. */
  skippedUpdates: Counter;
}

interface Action {
  slot: number;
  triggers: Trigger[];
  active?: Gauge;
  scalePercent: Gauge;
}

/** The main thread's overload manager. */
export class OverloadManager {
  readonly #monitors: Monitor[] = [];
  readonly #actions: Action[] = [];
  readonly #refreshMs: number;
  readonly #delay: Histogram;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastRefresh = 0;
  readonly #stats: Scope;
  /** `global_downstream_max_connections` is configured. */
  #globalLimit = false;

  /** Builds the monitors of `config` (a config already checked by checkOverloadManager). */
  constructor(
    config: OverloadManagerConfig | undefined,
    extensions: ExtensionRegistry,
    stats: Scope,
    readonly state: OverloadState,
  ) {
    // A zero interval would sample back to back, taking the main thread's CPU.
    this.#refreshMs = Math.max(
      MIN_REFRESH_MS,
      durationMs(config?.refreshInterval, DEFAULT_REFRESH_MS),
    );
    const scope = stats.scope("overload");
    this.#delay = scope.histogram("refresh_interval_delay", "Milliseconds");
    this.#stats = stats;
    for (const m of config?.resourceMonitors ?? []) {
      const factory = monitorFactory(m, extensions);
      if (!factory) throw new Error(`resource monitor '${m.name}' is not supported`);
      const any = m.configType.case === "typedConfig" ? m.configType.value : undefined;
      const msg = any ? unpackAny(any) : undefined;
      if (!msg) throw new Error(`resource monitor '${m.name}' needs a typed_config`);
      const monitor = factory.createResourceMonitor!(msg);
      if (monitor.globalMaxConnections !== undefined) {
        this.#globalLimit = true;
        state.setGlobalMaxConnections(monitor.globalMaxConnections);
        continue;
      }
      const s = scope.scope(m.name);
      this.#monitors.push({
        name: m.name,
        monitor,
        pressure: 0,
        pressureGauge: s.gauge("pressure", "NeverImport"),
        failedUpdates: s.counter("failed_updates"),
        skippedUpdates: s.counter("skipped_updates"),
      });
    }
    for (const a of config?.actions ?? []) {
      const s = scope.scope(a.name);
      this.#actions.push({
        slot: ACTION_SLOTS[a.name],
        triggers: a.triggers,
        active: s.gauge("active", "NeverImport"),
        scalePercent: s.gauge("scale_percent", "NeverImport"),
      });
    }
    for (const p of config?.loadshedPoints ?? []) {
      this.#actions.push({
        slot: LOAD_SHED_POINT_SLOTS[p.name],
        triggers: p.triggers,
        scalePercent: scope.scope(p.name).gauge("scale_percent", "NeverImport"),
      });
    }
  }

  /**
   * What Envoy warns about at start-up: the deprecated runtime key for the global connection
   * limit, or no global connection limit at all.
   */
  startupWarnings(): string[] {
    if (this.#globalLimit) return [];
    if (runtimeSnapshot().get(GLOBAL_MAX_CONNECTIONS_KEY) !== undefined) {
      return [
        `Usage of the deprecated runtime key ${GLOBAL_MAX_CONNECTIONS_KEY}, consider switching ` +
        "to `envoy.resource_monitors.global_downstream_max_connections` instead.This runtime " +
        "key will be removed in future.",
      ];
    }
    return [
      "There is no configured limit to the number of allowed active downstream connections. " +
      "Configure a limit in `envoy.resource_monitors.global_downstream_max_connections` " +
      "resource monitor.",
    ];
  }

  /** Samples every monitor and publishes the actions' values; returns whether any changed. */
  refresh(): boolean {
    const now = performance.now();
    if (this.#lastRefresh) {
      this.#delay.record(Math.max(0, now - this.#lastRefresh - this.#refreshMs));
    }
    this.#lastRefresh = now;
    const pressure = new Map<string, number>();
    for (const m of this.#monitors) {
      try {
        m.pressure = m.monitor.pressure!();
      } catch (e) {
        // The last pressure stays in force.
        m.failedUpdates.inc();
        log.debug(() => `Failed to update resource ${m.name}: ${(e as Error).message}`);
      }
      m.pressureGauge.set(Math.floor(m.pressure * 100));
      pressure.set(m.name, m.pressure);
    }
    const values = new Map<number, number>();
    for (const a of this.#actions) {
      let v = 0;
      for (const t of a.triggers) v = Math.max(v, triggerValue(t, pressure.get(t.name) ?? 0));
      values.set(a.slot, v);
      a.active?.set(v >= 1 ? 1 : 0);
      a.scalePercent.set(Math.floor(v * 100));
    }
    return this.state.publish(values);
  }

  /** Refreshes now and then every `refresh_interval`, until stopped. */
  start(): void {
    this.state.attach(this.#stats);
    if (this.#monitors.length === 0 || this.#timer !== undefined) return;
    this.refresh();
    const tick = () => {
      try {
        this.refresh();
      } catch (e) {
        reportBug("overload manager refresh", e);
      }
      this.#timer = setTimeout(tick, this.#refreshMs);
    };
    this.#timer = setTimeout(tick, this.#refreshMs);
  }

  /** Stops refreshing. */
  stop(): void {
    this.state.stop();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The main thread's overload manager for `b`, with this isolate's overload state (whose
 * shared memory the workers get in their init message).
 */
export function createOverloadManager(
  b: Bootstrap,
  extensions: ExtensionRegistry,
  stats: Scope,
): OverloadManager {
  const state = setOverloadState(new OverloadState(undefined, b.overloadManager, listenerNames(b)));
  return new OverloadManager(b.overloadManager, extensions, stats, state);
}
