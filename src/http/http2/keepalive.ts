/**
 * HTTP/2 connection keepalive (`Http2ProtocolOptions.connection_keepalive`): a PING every
 * `interval` (plus up to `interval_jitter` percent, 15 by default), and when its ACK does not
 * arrive within `timeout`, `http2.keepalive_timeout` is counted and the connection fails (the
 * owner closes it, as Envoy does).
 *
 * The codec stays free of timers: the owner creates this next to the connection, forwards
 * `onPingAck` from the connection callbacks, and calls `stop` when the connection closes.
 *
 * @module
 */
import { CoarseTimer } from "../../common/coarse_timer.ts";
import type { BugScope } from "../../common/error_boundary.ts";
import type { KeepaliveSettings } from "../../../proto/gen/envoy/config/core/v3/protocol_pb.ts";
import { durationMs } from "../../common/duration.ts";
import type { Http2Connection } from "./connection.ts";

/** `KeepaliveSettings`, resolved. */
export interface KeepaliveConfig {
  /** Time between PINGs; 0 sends none. */
  readonly intervalMs: number;
  /** Time to wait for an ACK. */
  readonly timeoutMs: number;
  /** Random extra on each interval, in percent of it. */
  readonly jitterPercent: number;
}

/**
 * Resolves `KeepaliveSettings`; problems name fields that are not implemented or invalid.
 */
export function resolveKeepalive(
  k: KeepaliveSettings,
): { config: KeepaliveConfig; problems: string[] } {
  const problems: string[] = [];
  if (k.connectionIdleInterval) problems.push("connection_idle_interval: not supported yet");
  const timeoutMs = durationMs(k.timeout, 0);
  if (timeoutMs < 1) problems.push("timeout: must be at least 1ms");
  return {
    config: {
      intervalMs: durationMs(k.interval, 0),
      timeoutMs,
      jitterPercent: k.intervalJitter?.value ?? 15,
    },
    problems,
  };
}

/** PINGs one connection and fails it when the peer stops answering. */
export class Http2Keepalive {
  readonly #conn: Http2Connection;
  readonly #config: KeepaliveConfig;
  readonly #interval: CoarseTimer;
  readonly #timeout: CoarseTimer;
  /**
   * A PING is out without its ACK. Kept apart from `#timeout.armed`, which is false while a
   * tick is about to fire it: a PING sent in that same tick must not push the timeout back.
   */
  #awaitingAck = false;

  /** Starts pinging `conn` (timers report bugs to `scope`). */
  constructor(conn: Http2Connection, config: KeepaliveConfig, scope: BugScope) {
    this.#conn = conn;
    this.#config = config;
    this.#interval = new CoarseTimer(() => this.#ping(), scope);
    this.#timeout = new CoarseTimer(() => this.#conn.keepaliveTimeout(), scope);
    this.#armInterval();
  }

  /** The connection reported a PING ACK: the peer is alive. */
  onPingAck(): void {
    this.#awaitingAck = false;
    this.#timeout.disarm();
  }

  /** The connection closed. */
  stop(): void {
    this.#interval.disarm();
    this.#timeout.disarm();
  }

  #armInterval(): void {
    const { intervalMs, jitterPercent } = this.#config;
    if (intervalMs <= 0) return;
    this.#interval.arm(intervalMs + Math.random() * intervalMs * jitterPercent / 100);
  }

  #ping(): void {
    if (this.#conn.failed) return;
    this.#conn.sendPing();
    if (!this.#awaitingAck) {
      this.#awaitingAck = true;
      this.#timeout.arm(this.#config.timeoutMs);
    }
    this.#armInterval();
  }
}
