/**
 * Envoy's ROUND_ROBIN policy. With equal weights it is a plain rotation; otherwise an EDF
 * schedule interleaves hosts in proportion to their weights. Every load balancer instance (one
 * per worker) starts at a random offset, so workers that start together do not all send their
 * first requests to the same host.
 *
 * @module
 */
import { EdfScheduler } from "./edf_scheduler.ts";
import type { HostDescription } from "./host.ts";
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
import { SlowStart } from "./slow_start.ts";

/** Rotation position, or the weighted schedule when weights differ. */
interface RoundRobinState {
  next: number;
  readonly edf?: EdfScheduler<HostDescription>;
}

/** Weighted round robin over the chosen priority level (and locality). */
export class RoundRobinLoadBalancer extends PriorityLoadBalancer<RoundRobinState> {
  readonly #offset = randomInt(this.random);
  /** `slow_start_config`, when set with a window. */
  readonly #slowStart: SlowStart | undefined;
  readonly #weightOf: ((h: HostDescription) => number) | undefined;

  constructor(
    prioritySet: PrioritySet,
    settings: LbSettings,
    random: Random,
    stats?: LbStats,
    env: LbEnvironment = {},
  ) {
    super(prioritySet, settings, random, stats, env);
    if (settings.slowStart) {
      const slow = new SlowStart(settings.slowStart, prioritySet, env.clock);
      this.#slowStart = slow;
      this.#weightOf = (h) => slow.apply(h.weight, h);
    }
  }

  override destroy(): void {
    this.#slowStart?.destroy();
    super.destroy();
  }

  protected sourceState(hosts: readonly HostDescription[]): RoundRobinState {
    if (hosts.length === 0) return { next: 0 };
    // Equal weights rotate, unless a host is ramping up (then its weight is not equal).
    if (equalWeights(hosts) && !this.#slowStart?.anyInWindow(hosts)) {
      return { next: this.#offset % hosts.length };
    }
    const weightOf = this.#weightOf;
    const edf = new EdfScheduler<HostDescription>();
    for (const h of hosts) edf.add(h, weightOf ? weightOf(h) : h.weight);
    for (let i = 0; i < this.#offset % hosts.length; i++) edf.pickAndAdd(weightOf);
    return { next: 0, edf };
  }

  protected pick(source: HostSource<RoundRobinState>): HostDescription {
    const s = source.state;
    if (s.edf) return s.edf.pickAndAdd(this.#weightOf)!;
    const host = source.hosts[s.next];
    s.next = (s.next + 1) % source.hosts.length;
    return host;
  }
}
