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
import { equalWeights, type HostSource, PriorityLoadBalancer, randomInt } from "./lb_base.ts";

/** Rotation position, or the weighted schedule when weights differ. */
interface RoundRobinState {
  next: number;
  readonly edf?: EdfScheduler<HostDescription>;
}

/** Weighted round robin over the chosen priority level (and locality). */
export class RoundRobinLoadBalancer extends PriorityLoadBalancer<RoundRobinState> {
  readonly #offset = randomInt(this.random);

  protected sourceState(hosts: readonly HostDescription[]): RoundRobinState {
    if (hosts.length === 0) return { next: 0 };
    if (equalWeights(hosts)) return { next: this.#offset % hosts.length };
    const edf = new EdfScheduler<HostDescription>();
    for (const h of hosts) edf.add(h, h.weight);
    for (let i = 0; i < this.#offset % hosts.length; i++) edf.pickAndAdd();
    return { next: 0, edf };
  }

  protected pick(source: HostSource<RoundRobinState>): HostDescription {
    const s = source.state;
    if (s.edf) return s.edf.pickAndAdd()!;
    const host = source.hosts[s.next];
    s.next = (s.next + 1) % source.hosts.length;
    return host;
  }
}
