/**
 * Envoy's RANDOM policy: a uniformly random host of the chosen priority level (and locality).
 * As in Envoy, endpoint weights do not bias the pick; locality weights and priorities still
 * apply, because they are chosen first.
 *
 * @module
 */
import type { HostDescription } from "./host.ts";
import { type HostSource, PriorityLoadBalancer } from "./lb_base.ts";

/** Uniform random choice; it needs no per-group state. */
export class RandomLoadBalancer extends PriorityLoadBalancer<undefined> {
  protected sourceState(): undefined {
    return undefined;
  }

  protected pick(source: HostSource<undefined>): HostDescription {
    return source.hosts[Math.floor(this.random() * source.hosts.length)];
  }
}
