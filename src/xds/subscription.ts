/**
 * A subscription to the resources of one type from one config source (Envoy's
 * `Config::Subscription`), whatever carries them: a watched file, REST polling, a gRPC stream.
 * Each delivered update is the whole state of the world for the subscription; the subscriber
 * applies it or throws to reject it, and the previous config stays. Stats follow Envoy's.
 *
 * @module
 */
import { reportBug } from "../common/error_boundary.ts";
import { formatIssue } from "../config/errors.ts";
import { getLogger } from "../common/logger.ts";
import type { DecodedUpdate, DecodeResult } from "./decode.ts";
import type { ResourceType } from "./resource_types.ts";
import type { SubscriptionStats } from "./subscription_stats.ts";

const log = getLogger("config");

/** Envoy's `ConfigUpdateFailureReason`. */
export type UpdateFailureReason = "ConnectionFailure" | "FetchTimedOut" | "UpdateRejected";

/** What a subscription tells its subscriber. */
export interface SubscriptionCallbacks {
  /** A new state of the world; throw to reject it (the message says why). */
  onConfigUpdate(update: DecodedUpdate): void;
  /**
   * An update failed or was rejected (`failed`: the update, when it decoded), or the initial
   * fetch timed out.
   */
  onConfigUpdateFailed(reason: UpdateFailureReason, detail: string, failed?: DecodedUpdate): void;
}

/** A running subscription. */
export interface Subscription {
  /** Starts fetching (the initial fetch begins now). */
  start(): void;
  /** Stops fetching and watching. */
  stop(): void;
}

/** What every transport shares: stats, the initial fetch timeout, delivery to the subscriber. */
export abstract class SubscriptionBase implements Subscription {
  #initTimer: ReturnType<typeof setTimeout> | undefined;
  #initDone = false;

  constructor(
    readonly type: ResourceType,
    readonly stats: SubscriptionStats,
    readonly callbacks: SubscriptionCallbacks,
    /** `initial_fetch_timeout` in ms; 0 waits for ever. */
    readonly initialFetchTimeoutMs: number,
    /** What the logs call this subscription (the file, the cluster). */
    readonly where: string,
  ) {}

  start(): void {
    if (this.initialFetchTimeoutMs > 0) {
      this.#initTimer = setTimeout(() => {
        this.#initTimer = undefined;
        if (this.#initDone) return;
        this.#initDone = true;
        this.stats.initFetchTimeout.inc();
        log.warn(`${this.type.service} ${this.where}: initial fetch timed out`);
        this.#callback(() =>
          this.callbacks.onConfigUpdateFailed("FetchTimedOut", "initial fetch timed out")
        );
      }, this.initialFetchTimeoutMs);
    }
    this.begin();
  }

  stop(): void {
    clearTimeout(this.#initTimer);
    this.#initTimer = undefined;
    this.end();
  }

  /** Starts the transport. */
  protected abstract begin(): void;
  /** Stops the transport. */
  protected abstract end(): void;

  /** A fetch could not be made (the file is missing, the server did not answer). */
  protected fetchFailed(detail: string): void {
    this.stats.updateAttempt.inc();
    this.stats.updateFailure.inc();
    log.warn(`${this.type.service} ${this.where}: config update failure: ${detail}`);
    this.#settleInit();
    this.#callback(() => this.callbacks.onConfigUpdateFailed("ConnectionFailure", detail));
  }

  /**
   * Delivers what a fetch decoded: applied (success) or refused (failure, rejected). Returns
   * undefined when applied, else why not (for a NACK's error_detail).
   */
  protected deliver(result: DecodeResult): string | undefined {
    this.stats.updateAttempt.inc();
    const start = performance.now();
    if (!result.ok) {
      const detail = result.issues.map(formatIssue).join("\n");
      if (result.rejected) this.#rejected(detail, result.update);
      else {
        this.stats.updateFailure.inc();
        log.warn(`${this.type.service} ${this.where}: config update failure:\n${detail}`);
        this.#settleInit();
        this.#callback(() => this.callbacks.onConfigUpdateFailed("UpdateRejected", detail));
      }
      return detail;
    }
    const update = result.update;
    try {
      this.callbacks.onConfigUpdate(update);
    } catch (e) {
      this.#rejected((e as Error).message, update);
      return (e as Error).message;
    }
    // A removal (delta, or a TTL passing) is no empty update: Envoy's delta callbacks do not
    // count it (EDS counts its own, xds_manager.ts).
    if (update.resources.length === 0 && !update.removed?.length) this.stats.updateEmpty.inc();
    this.stats.accepted(update.versionInfo, performance.now() - start);
    this.#settleInit();
    log.debug(
      `${this.type.service} ${this.where}: config update accepted, version ` +
        `'${update.versionInfo}', ${update.resources.length} resource(s)`,
    );
    return undefined;
  }

  #rejected(detail: string, failed?: DecodedUpdate): void {
    this.stats.updateRejected.inc();
    log.warn(`${this.type.service} ${this.where}: config update rejected:\n${detail}`);
    this.#settleInit();
    this.#callback(() => this.callbacks.onConfigUpdateFailed("UpdateRejected", detail, failed));
  }

  /** The first answer, good or bad, ends the initial fetch (as Envoy's init target). */
  #settleInit(): void {
    if (this.#initDone) return;
    this.#initDone = true;
    clearTimeout(this.#initTimer);
    this.#initTimer = undefined;
  }

  #callback(f: () => void): void {
    try {
      f();
    } catch (e) {
      reportBug(`${this.type.service} subscription callback`, e);
    }
  }
}
