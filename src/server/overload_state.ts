/**
 * The overload manager's state as every isolate sees it (Envoy's thread-local overload state):
 * the main thread's overload manager (overload_manager.ts) computes each action's value from
 * resource pressure and writes it into shared memory; workers read it where Envoy's data path
 * consults the overload manager — accepting a connection, decoding request headers, sending a
 * response, arming an idle timer. Process-wide limits (the global downstream connection count)
 * live in the same memory, updated with atomics (DESIGN principle 8).
 *
 * Values are fixed-point: `SCALE` is 1 (saturated). A server without `overload_manager` has
 * no actions configured, and each check is one boolean read.
 *
 * @module
 */
import type {
  OverloadManager,
  ScaleTimersOverloadActionConfig,
} from "../../proto/gen/envoy/config/overload/v3/overload_pb.ts";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { unpackAny } from "../config/any.ts";
import { durationMs } from "../common/duration.ts";
import type { Counter } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";
import { releaseFreeMemory } from "../common/idle_memory_release.ts";

/** How often a timer scaled by `reduce_timeouts` looks at the scale again. */
const RESCALE_CHECK_MS = 1000;

/** How often a listener held by `stop_accepting_connections` looks again. */
const ACCEPT_POLL_MS = 10;

/** The fixed-point value of a saturated action. */
export const SCALE = 1_000_000;

/** Where each value lives in the shared memory (Int32 slots). */
export const Slot = {
  stopAcceptingRequests: 0,
  disableHttpKeepalive: 1,
  stopAcceptingConnections: 2,
  rejectIncomingConnections: 3,
  reduceTimeouts: 4,
  shrinkHeap: 5,
  shedTcpListenerAccept: 6,
  shedHcmDecodeHeaders: 7,
  /** Downstream connections open on every listener of every worker. */
  globalConnections: 8,
  /** `global_downstream_max_connections` (0: none configured). */
  globalMaxConnections: 9,
  size: 10,
} as const;

/** The overload actions and load shed points denvoy implements, by Envoy's name. */
export const ACTION_SLOTS: Readonly<Record<string, number>> = {
  "envoy.overload_actions.stop_accepting_requests": Slot.stopAcceptingRequests,
  "envoy.overload_actions.disable_http_keepalive": Slot.disableHttpKeepalive,
  "envoy.overload_actions.stop_accepting_connections": Slot.stopAcceptingConnections,
  "envoy.overload_actions.reject_incoming_connections": Slot.rejectIncomingConnections,
  "envoy.overload_actions.reduce_timeouts": Slot.reduceTimeouts,
  "envoy.overload_actions.shrink_heap": Slot.shrinkHeap,
};

/** Load shed points denvoy implements, by Envoy's name. */
export const LOAD_SHED_POINT_SLOTS: Readonly<Record<string, number>> = {
  "envoy.load_shed_points.tcp_listener_accept": Slot.shedTcpListenerAccept,
  "envoy.load_shed_points.http_connection_manager_decode_headers": Slot.shedHcmDecodeHeaders,
};

/** ScaleTimersOverloadActionConfig.TimerType values denvoy scales. */
export const TimerType = { httpDownstreamConnectionIdle: 1, httpDownstreamStreamIdle: 2 } as const;

/** The runtime key that sets the global connection limit when no monitor does (deprecated). */
export const GLOBAL_MAX_CONNECTIONS_KEY = "overload.global_downstream_max_connections";

/** How a scaled timer's minimum is given: an absolute duration or a share of its maximum. */
type TimerMinimum = { ms: number } | { scale: number };

/** Why the listener turned a connection away, for its stats. */
export type RejectCause = "overload" | "global_limit" | "listener_limit";

/** One isolate's view of the overload state. */
export class OverloadState {
  readonly #values: Int32Array;
  /** Any action or load shed point configured: the data path's only check otherwise. */
  readonly enabled: boolean;
  readonly #timers = new Map<number, TimerMinimum>();
  readonly #configured = new Set<number>();
  #shrinkTimer: ReturnType<typeof setInterval> | undefined;
  readonly #shedCounts = new Map<number, Counter>();
  /** Each listener's connection count slot and its runtime limit key, by listener name. */
  readonly #listeners = new Map<string, number>();
  readonly #listenerKeys: string[];

  /**
   * A view over `memory` (a fresh one, unshared, when none is given: tests, init_only). Every
   * isolate passes the same `listeners` (the bootstrap's, in order): each gets a slot that
   * counts its connections across the workers.
   */
  constructor(
    memory?: SharedArrayBuffer,
    config?: OverloadManager,
    listeners: readonly string[] = [],
  ) {
    this.#values = new Int32Array(
      memory ?? new SharedArrayBuffer((Slot.size + listeners.length) * 4),
    );
    listeners.forEach((name, i) => this.#listeners.set(name, Slot.size + i));
    this.#listenerKeys = listeners.map((n) =>
      `envoy.resource_limits.listener.${n}.connection_limit`
    );
    for (const a of config?.actions ?? []) {
      const slot = ACTION_SLOTS[a.name];
      if (slot !== undefined) this.#configured.add(slot);
      if (slot !== Slot.reduceTimeouts) continue;
      const scaleTimers = a.typedConfig
        ? unpackAny<ScaleTimersOverloadActionConfig>(a.typedConfig)
        : undefined;
      for (const t of scaleTimers?.timerScaleFactors ?? []) {
        const adj = t.overloadAdjust;
        if (adj.case === "minTimeout") this.#timers.set(t.timer, { ms: durationMs(adj.value, 0) });
        else if (adj.case === "minScale") this.#timers.set(t.timer, { scale: adj.value.value });
      }
    }
    for (const p of config?.loadshedPoints ?? []) {
      const slot = LOAD_SHED_POINT_SLOTS[p.name];
      if (slot !== undefined) this.#configured.add(slot);
    }
    this.enabled = this.#configured.size > 0;
  }

  /** The shared memory, for the init message of workers. */
  get memory(): SharedArrayBuffer {
    return this.#values.buffer as SharedArrayBuffer;
  }

  /** An action's (or load shed point's) current value, 0 to 1. */
  value(slot: number): number {
    return Atomics.load(this.#values, slot) / SCALE;
  }

  /** Whether an action is saturated (Envoy's `isSaturated`). */
  saturated(slot: number): boolean {
    return Atomics.load(this.#values, slot) >= SCALE;
  }

  /** Envoy's `bernoulli(value)`: true with the action's value as probability. */
  #chance(slot: number): boolean {
    const v = Atomics.load(this.#values, slot);
    return v > 0 && (v >= SCALE || Math.random() * SCALE < v);
  }

  /** Sets the values (main thread); returns whether any changed. */
  publish(values: ReadonlyMap<number, number>): boolean {
    let changed = false;
    for (const [slot, v] of values) {
      const fixed = Math.round(Math.min(1, Math.max(0, v)) * SCALE);
      if (Atomics.exchange(this.#values, slot, fixed) !== fixed) changed = true;
    }
    return changed;
  }

  /** Sets the global downstream connection limit (0: none). */
  setGlobalMaxConnections(max: number): void {
    Atomics.store(this.#values, Slot.globalMaxConnections, Math.min(max, 0x7fffffff));
  }

  /** Downstream connections open in every isolate. */
  get globalConnections(): number {
    return Atomics.load(this.#values, Slot.globalConnections);
  }

  // ---- the data path ----

  /**
   * Whether a new request is answered 503 "envoy overloaded" before its filter chain is made:
   * `stop_accepting_requests`, then the `http_connection_manager_decode_headers` load shed
   * point (which also counts `shed_load_count`).
   */
  shedRequest(): "stop_accepting_requests" | "shed" | undefined {
    if (this.#chance(Slot.stopAcceptingRequests)) return "stop_accepting_requests";
    if (this.#chance(Slot.shedHcmDecodeHeaders)) {
      this.#shedCounts.get(Slot.shedHcmDecodeHeaders)?.inc();
      return "shed";
    }
    return undefined;
  }

  /** `disable_http_keepalive`: whether this response closes its (HTTP/1) connection. */
  disableKeepalive(): boolean {
    return this.#chance(Slot.disableHttpKeepalive);
  }

  /** Whether `stop_accepting_connections` holds new connections back. */
  get acceptPaused(): boolean {
    return this.saturated(Slot.stopAcceptingConnections);
  }

  /**
   * Resolves once `stop_accepting_connections` is no longer saturated. It polls (every
   * `ACCEPT_POLL_MS`, only while the action holds): a wake-up through `Atomics.waitAsync` is
   * not an event that Deno's event loop waits for.
   */
  async accepting(): Promise<void> {
    while (this.acceptPaused) await new Promise((r) => setTimeout(r, ACCEPT_POLL_MS));
  }

  /** The shared connection count of listener `name` (-1: not a bootstrap listener). */
  listenerSlot(name: string): number {
    return this.#listeners.get(name) ?? -1;
  }

  /**
   * Admits an accepted connection of the listener whose slot is `listener`, counting it, or
   * says why it is turned away, in Envoy's order: the global connection limit
   * (`global_limit`; a listener with `ignore_global_conn_limit` is counted but never refused),
   * `reject_incoming_connections` and the `tcp_listener_accept` load shed point (`overload`),
   * then the listener's own limit, the runtime key
   * `envoy.resource_limits.listener.<name>.connection_limit` (`listener_limit`). An admitted
   * connection is released with {@linkcode release} when it closes.
   */
  admit(ignoreGlobalLimit: boolean, listener: number): RejectCause | undefined {
    const v = this.#values;
    if (this.admitGlobal(ignoreGlobalLimit)) return "global_limit";
    let why: RejectCause | undefined;
    if (this.enabled) {
      if (this.#chance(Slot.rejectIncomingConnections)) why = "overload";
      else if (this.#chance(Slot.shedTcpListenerAccept)) {
        this.#shedCounts.get(Slot.shedTcpListenerAccept)?.inc();
        why = "overload";
      }
    }
    if (!why && listener >= 0) {
      const key = this.#listenerKeys[listener - Slot.size];
      const limit = runtimeSnapshot().getInteger(key, 0);
      const count = Atomics.add(v, listener, 1) + 1;
      if (limit > 0 && count > limit) {
        Atomics.sub(v, listener, 1);
        why = "listener_limit";
      }
    }
    if (why) Atomics.sub(v, Slot.globalConnections, 1);
    return why;
  }

  /**
   * Admits an admin connection, which overload actions and listener limits do not cover. Envoy
   * runs the admin listener on the main thread, outside the overload manager: a limit set by a
   * `downstream_connections` resource monitor neither counts nor refuses admin connections
   * (`uncounted`: nothing to release). The deprecated runtime key's limit counts every accepted
   * connection, the admin's too (`counted`: {@linkcode release} it with slot -1 when it
   * closes), and refuses one over it unless the admin sets `ignore_global_conn_limit`.
   */
  admitAdmin(ignoreGlobalLimit: boolean): "counted" | "uncounted" | "refused" {
    if (Atomics.load(this.#values, Slot.globalMaxConnections) > 0) return "uncounted";
    return this.admitGlobal(ignoreGlobalLimit) ? "refused" : "counted";
  }

  /** Counts a connection in the global count; true when the global limit refuses it. */
  admitGlobal(ignoreGlobalLimit: boolean): boolean {
    const v = this.#values;
    const open = Atomics.add(v, Slot.globalConnections, 1) + 1;
    if (ignoreGlobalLimit) return false;
    const max = Atomics.load(v, Slot.globalMaxConnections) ||
      runtimeSnapshot().getInteger(GLOBAL_MAX_CONNECTIONS_KEY, 0);
    if (max > 0 && open > max) {
      Atomics.sub(v, Slot.globalConnections, 1);
      return true;
    }
    return false;
  }

  /** An admitted connection of the listener whose slot is `listener` closed. */
  release(listener: number): void {
    Atomics.sub(this.#values, Slot.globalConnections, 1);
    if (listener >= 0) Atomics.sub(this.#values, listener, 1);
  }

  /**
   * `reduce_timeouts`: the timeout in force for a timer of `type` whose configured value is
   * `ms`, `min + (max - min) * (1 - value)` as Envoy's scaled range timers. Unscaled timers,
   * and every timer while the action is inactive, keep `ms`.
   */
  scaledTimeout(type: number, ms: number): number {
    if (!this.enabled || ms <= 0) return ms;
    const min = this.#timers.get(type);
    if (!min) return ms;
    const v = this.value(Slot.reduceTimeouts);
    if (v === 0) return ms;
    const floor = "ms" in min ? Math.min(min.ms, ms) : ms * min.scale / 100;
    return floor + (ms - floor) * (1 - v);
  }

  /**
   * How often a scaled timer of `type` looks at the scale again while it waits (Envoy
   * re-arms its scaled timers when the scale changes); Infinity for a timer not scaled.
   */
  rescaleCheckMs(type: number): number {
    return this.enabled && this.#timers.has(type) ? RESCALE_CHECK_MS : Infinity;
  }

  /**
   * How long a timer of `type` (configured timeout `ms`) that has run for `elapsed` ms waits
   * before it looks again: 0 when its (scaled) timeout is reached.
   */
  timerDelay(type: number, ms: number, elapsed: number): number {
    const remaining = this.scaledTimeout(type, ms) - elapsed;
    return remaining <= 0 ? 0 : Math.min(remaining, this.rescaleCheckMs(type));
  }

  /**
   * Declares this isolate's overload stats in `stats` (each configured load shed point's
   * `overload.<point>.shed_load_count`) and starts `shrink_heap` here: every `intervalMs`
   * while the action is saturated, a full garbage collection and `malloc_trim`, which return
   * the freed heap and arena pages to the system (Envoy releases tcmalloc's free memory),
   * counted in `overload.envoy.overload_actions.shrink_heap.shrink_count`.
   */
  attach(stats: Scope, intervalMs = 10_000): void {
    for (const [name, slot] of Object.entries(LOAD_SHED_POINT_SLOTS)) {
      if (this.#configured.has(slot)) {
        this.#shedCounts.set(slot, stats.counter(`overload.${name}.shed_load_count`));
      }
    }
    if (!this.#configured.has(Slot.shrinkHeap) || this.#shrinkTimer) return;
    const shrinkCount = stats.counter("overload.envoy.overload_actions.shrink_heap.shrink_count");
    this.#shrinkTimer = setInterval(() => {
      if (!this.saturated(Slot.shrinkHeap)) return;
      if (releaseFreeMemory()) shrinkCount.inc();
    }, intervalMs);
    Deno.unrefTimer(this.#shrinkTimer);
  }

  /** Stops the heap shrinker. */
  stop(): void {
    clearInterval(this.#shrinkTimer);
    this.#shrinkTimer = undefined;
  }
}

/** The bootstrap's listeners, in order: each has its connection count slot. */
export function listenerNames(b: Bootstrap): string[] {
  return (b.staticResources?.listeners ?? []).map((l) => l.name);
}

let current = new OverloadState();

/** This isolate's overload state. */
export function overloadState(): OverloadState {
  return current;
}

/** Installs this isolate's overload state (worker start-up, the main thread, tests). */
export function setOverloadState(state: OverloadState): OverloadState {
  current.stop();
  return current = state;
}
