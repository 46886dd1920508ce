/**
 * Envoy's LEAST_REQUEST policy. With equal weights it samples `choice_count` random hosts and
 * takes the one with the fewest active requests (power of two choices: nearly as good as a full
 * scan, and no herding onto one idle host). With unequal weights it runs an EDF schedule whose
 * weights shrink with load: `weight / (active + 1) ^ active_request_bias`.
 *
 * Active requests are counted per load balancer (so per worker), keyed by host address
 * (`ActiveRequests`): hosts stay plain data that can be shared and replaced.
 *
 * @module
 */
import { EdfScheduler } from "./edf_scheduler.ts";
import type { HostDescription } from "./host.ts";
import { ActiveRequests } from "./active_requests.ts";
import {
  equalWeights,
  type HostSource,
  type LbEnvironment,
  type LbSettings,
  type LbStats,
  PriorityLoadBalancer,
  type Random,
  randomInt,
} from "./lb_base.ts";
import type { PrioritySet } from "./priority_set.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";
import { SlowStart } from "./slow_start.ts";

/** The load-adjusted schedule, when weights differ. */
interface LeastRequestState {
  readonly edf?: EdfScheduler<HostDescription>;
}

/** Least request over the chosen priority level (and locality). */
export class LeastRequestLoadBalancer extends PriorityLoadBalancer<LeastRequestState> {
  readonly #active = new ActiveRequests();
  readonly #choiceCount: number;
  #bias: number;
  readonly #settings: LbSettings;
  readonly #offset = randomInt(this.random);

  readonly #unsubscribePrune: () => void;
  /** `slow_start_config`, when set with a window. */
  readonly #slowStart: SlowStart | undefined;

  constructor(
    prioritySet: PrioritySet,
    settings: LbSettings,
    random: Random,
    stats?: LbStats,
    env: LbEnvironment = {},
  ) {
    super(prioritySet, settings, random, stats, env);
    this.#choiceCount = settings.choiceCount;
    this.#settings = settings;
    this.#bias = settings.activeRequestBias;
    this.#unsubscribePrune = prioritySet.onUpdate((set) => this.#active.prune(set));
    if (settings.slowStart) {
      this.#slowStart = new SlowStart(settings.slowStart, prioritySet, env.clock);
    }
  }

  override destroy(): void {
    this.#unsubscribePrune();
    this.#slowStart?.destroy();
    super.destroy();
  }

  /** Requests to `host` that started and have not finished, as seen by this balancer. */
  activeRequests(host: HostDescription): number {
    return this.#active.of(host);
  }

  override requestStarted(host: HostDescription): void {
    this.#active.started(host);
  }

  override requestFinished(host: HostDescription): void {
    this.#active.finished(host);
  }

  protected sourceState(hosts: readonly HostDescription[]): LeastRequestState {
    // Envoy re-reads the bias from the runtime whenever the host set is rebuilt.
    const key = this.#settings.activeRequestBiasRuntimeKey;
    if (key) this.#bias = runtimeSnapshot().getDouble(key, this.#settings.activeRequestBias);
    if (equalWeights(hosts) && !this.#slowStart?.anyInWindow(hosts)) return {};
    const edf = new EdfScheduler<HostDescription>();
    for (const h of hosts) edf.add(h, this.#weight(h));
    for (let i = 0; i < this.#offset % hosts.length; i++) edf.pickAndAdd((h) => this.#weight(h));
    return { edf };
  }

  protected pick(source: HostSource<LeastRequestState>): HostDescription {
    const edf = source.state.edf;
    if (edf) return edf.pickAndAdd((h) => this.#weight(h))!;
    const hosts = source.hosts;
    let best = hosts[Math.floor(this.random() * hosts.length)];
    for (let i = 1; i < this.#choiceCount; i++) {
      const h = hosts[Math.floor(this.random() * hosts.length)];
      if (this.activeRequests(h) < this.activeRequests(best)) best = h;
    }
    return best;
  }

  #weight(h: HostDescription): number {
    const active = this.activeRequests(h);
    const w = this.#bias === 0 || active === 0
      ? h.weight
      : this.#bias === 1
      ? h.weight / (active + 1)
      : h.weight / Math.pow(active + 1, this.#bias);
    return this.#slowStart ? this.#slowStart.apply(w, h) : w;
  }
}
