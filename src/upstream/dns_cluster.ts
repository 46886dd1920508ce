/**
 * Membership of STRICT_DNS and LOGICAL_DNS clusters: each configured endpoint is a resolve
 * target whose name is resolved now and again every `dns_refresh_rate` (or the answer's TTL with
 * `respect_dns_ttl`). A failed resolution keeps the target's previous hosts and retries on the
 * failure schedule (`dns_failure_refresh_rate`, else the refresh rate).
 *
 * - STRICT_DNS: every address a name resolves to becomes a host (duplicates dropped); a name
 *   without addresses contributes no hosts.
 * - LOGICAL_DNS: the single endpoint is one host whose address is the first one resolved, so
 *   new connections follow DNS; an empty answer counts as a failure, as in Envoy.
 *
 * @module
 */
import { getLogger } from "../common/logger.ts";
import type { ClusterInfo } from "./cluster_info.ts";
import type { DnsResolver, DnsResult } from "./dns.ts";
import { type HostDescription, hostKey } from "./host.ts";
import type { Random } from "./lb_base.ts";
import type { PrioritySet } from "./priority_set.ts";
import type { ClusterUpdateStats } from "./cluster_stats.ts";

const log = getLogger("upstream");

/** Timer functions; injectable so tests run DNS refreshes without waiting. */
export interface Timers {
  /** Calls `cb` once after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The global timers. */
export const SYSTEM_TIMERS: Timers = {
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface Target {
  /** The endpoint as configured; `address` is the name to resolve. */
  readonly endpoint: HostDescription;
  hosts: HostDescription[];
  timer?: unknown;
  /** Current failure backoff ceiling, when `dns_failure_refresh_rate` is set. */
  backoffMs?: number;
}

/** Resolves a DNS cluster's targets into its priority set until stopped. */
export class DnsMembership {
  readonly #info: ClusterInfo;
  readonly #set: PrioritySet;
  readonly #resolver: DnsResolver;
  readonly #timers: Timers;
  readonly #random: Random;
  readonly #targets: Target[];
  readonly #stats: ClusterUpdateStats | undefined;
  #stopped = false;

  /** `deps.stats` (main thread) counts every resolution as Envoy's cluster update stats. */
  constructor(
    info: ClusterInfo,
    endpoints: readonly HostDescription[],
    prioritySet: PrioritySet,
    deps: { resolver: DnsResolver; timers: Timers; random: Random; stats?: ClusterUpdateStats },
  ) {
    this.#info = info;
    this.#stats = deps.stats;
    this.#set = prioritySet;
    this.#resolver = deps.resolver;
    this.#timers = deps.timers;
    this.#random = deps.random;
    this.#targets = endpoints.map((endpoint) => ({ endpoint, hosts: [] }));
    // Every configured level exists from the start, empty until its names resolve.
    const levels = Math.max(1, ...endpoints.map((e) => e.priority + 1));
    for (let p = 0; p < levels; p++) prioritySet.updateHosts(p, [], info.hostSetPolicy);
  }

  /** Starts resolving; resolves when every target has finished its first attempt. */
  async start(): Promise<void> {
    await Promise.all(this.#targets.map((t) => this.#resolve(t)));
  }

  /** Stops resolving; answers still in flight are dropped. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#targets) {
      if (t.timer !== undefined) this.#timers.clearTimeout(t.timer);
      t.timer = undefined;
    }
  }

  async #resolve(t: Target): Promise<void> {
    t.timer = undefined;
    const name = t.endpoint.address;
    let answer: DnsResult | undefined;
    let failure = "";
    this.#stats?.updateAttempt.inc();
    try {
      answer = await this.#resolver.resolve(name, this.#info.dnsLookupFamily, {
        withTtl: this.#info.respectDnsTtl,
      });
      if (this.#info.type === "LOGICAL_DNS" && answer.addresses.length === 0) {
        answer = undefined;
        failure = "no addresses";
      }
    } catch (e) {
      failure = (e as Error).message;
    }
    if (this.#stopped) return;
    let next: number;
    if (answer) {
      this.#stats?.updateSuccess.inc();
      if (!this.#apply(t, answer.addresses)) this.#stats?.updateNoRebuild.inc();
      t.backoffMs = undefined;
      next = this.#info.respectDnsTtl && answer.ttlSeconds
        ? answer.ttlSeconds * 1000
        : this.#info.dnsRefreshRateMs;
    } else {
      this.#stats?.updateFailure.inc();
      next = this.#failureDelay(t);
      log.debug(() =>
        `cluster '${this.#info.name}': DNS resolution of ${name} failed (${failure}); ` +
        `keeping ${t.hosts.length} host(s), retrying in ${next} ms`
      );
    }
    t.timer = this.#timers.setTimeout(() => this.#resolve(t), next);
  }

  /**
   * With `dns_failure_refresh_rate`, Envoy's jittered exponential backoff: a random delay below
   * a ceiling that starts at the base interval and doubles up to the max; otherwise the
   * refresh rate.
   */
  #failureDelay(t: Target): number {
    const rate = this.#info.dnsFailureRefreshRate;
    if (!rate) return this.#info.dnsRefreshRateMs;
    const ceiling = t.backoffMs ?? rate.baseMs;
    t.backoffMs = ceiling > rate.maxMs / 2 ? rate.maxMs : ceiling * 2;
    return Math.max(1, Math.min(Math.floor(this.#random() * ceiling), rate.maxMs));
  }

  /** Applies a target's answer; false when it named the hosts already known (no rebuild). */
  #apply(t: Target, addresses: readonly string[]): boolean {
    const e = t.endpoint;
    const unique = this.#info.type === "LOGICAL_DNS" ? addresses.slice(0, 1) : [
      ...new Set(addresses),
    ];
    const hosts = unique.map((address) => ({ ...e, address }));
    // Same addresses in another order (DNS servers rotate answers) is no change.
    const before = new Set(t.hosts.map(hostKey));
    if (hosts.length === before.size && hosts.every((h) => before.has(hostKey(h)))) return false;
    log.debug(() =>
      `cluster '${this.#info.name}': ${e.address} resolved to ${unique.join(", ") || "nothing"}`
    );
    t.hosts = hosts;
    const level = this.#targets.filter((o) => o.endpoint.priority === e.priority)
      .flatMap((o) => o.hosts);
    this.#set.updateHosts(e.priority, level, this.#info.hostSetPolicy);
    return true;
  }
}
