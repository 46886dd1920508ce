/**
 * Load balancer creation by policy. Each policy shares the priority, panic and locality logic
 * of {@linkcode PriorityLoadBalancer} and plugs in only how it picks within a group of hosts,
 * so ring hash, maglev and typed `load_balancing_policy` extensions slot in here.
 *
 * @module
 */
import type { LbEnvironment, LbSettings, LbStats, LoadBalancer, Random } from "./lb_base.ts";
import { LeastRequestLoadBalancer } from "./least_request_lb.ts";
import type { PrioritySet } from "./priority_set.ts";
import { RandomLoadBalancer } from "./random_lb.ts";
import { RoundRobinLoadBalancer } from "./round_robin_lb.ts";
import { DEFAULT_RING_HASH, RingHashTable } from "./ring_hash_lb.ts";
import { DEFAULT_MAGLEV_TABLE_SIZE, MaglevTable } from "./maglev_lb.ts";
import { type NormalizedWeights, ThreadAwareLoadBalancer } from "./thread_aware_lb.ts";
import { SubsetLoadBalancer } from "./subset_lb.ts";

export type {
  HostSource,
  LbContext,
  LbEnvironment,
  LbSettings,
  LbStats,
  LoadBalancer,
  LocalCluster,
  Random,
} from "./lb_base.ts";

type Factory = (
  set: PrioritySet,
  settings: LbSettings,
  random: Random,
  stats?: LbStats,
  env?: LbEnvironment,
) => LoadBalancer;

const POLICIES: Readonly<Record<string, Factory>> = {
  ROUND_ROBIN: (set, settings, random, stats, env) =>
    new RoundRobinLoadBalancer(set, settings, random, stats, env),
  LEAST_REQUEST: (set, settings, random, stats, env) =>
    new LeastRequestLoadBalancer(set, settings, random, stats, env),
  RANDOM: (set, settings, random, stats, env) =>
    new RandomLoadBalancer(set, settings, random, stats, env),
  RING_HASH: (set, settings, random, stats) =>
    new ThreadAwareLoadBalancer(
      set,
      settings,
      hashTableFactory("RING_HASH", settings)!,
      random,
      stats,
    ),
  MAGLEV: (set, settings, random, stats) =>
    new ThreadAwareLoadBalancer(
      set,
      settings,
      hashTableFactory("MAGLEV", settings)!,
      random,
      stats,
    ),
};

/** What a load balancer needs of a cluster's settings (a `ClusterInfo` has it). */
export interface LbClusterSettings {
  /** `lb_policy` by its Envoy enum name. */
  readonly lbPolicy: string;
  readonly lb: LbSettings;
}

/**
 * A load balancer for `prioritySet` following the cluster's policy; it follows membership
 * updates until destroyed and counts into `stats`. `env.local` enables zone aware routing
 * (round robin, least request and random, as in Envoy). Throws for a policy without an
 * implementation.
 */
export function createLoadBalancer(
  cluster: LbClusterSettings,
  prioritySet: PrioritySet,
  random: Random = Math.random,
  stats?: LbStats,
  env?: LbEnvironment,
): LoadBalancer {
  const factory = Object.hasOwn(POLICIES, cluster.lbPolicy)
    ? POLICIES[cluster.lbPolicy]
    : undefined;
  if (!factory) throw new Error(`lb_policy ${cluster.lbPolicy} is not supported yet`);
  const subset = cluster.lb.subset;
  if (subset) {
    return new SubsetLoadBalancer(
      prioritySet,
      subset,
      (set) => factory(set, cluster.lb, random, stats, env),
      stats,
    );
  }
  return factory(prioritySet, cluster.lb, random, stats, env);
}

/** The table builder of a consistent-hash policy (undefined for other policies). */
export function hashTableFactory(
  lbPolicy: string,
  settings: LbSettings,
): ((w: NormalizedWeights) => RingHashTable | MaglevTable) | undefined {
  const useHostname = settings.useHostnameForHashing ?? false;
  if (lbPolicy === "RING_HASH") {
    const ring = settings.ringHash ?? DEFAULT_RING_HASH;
    return (w) => new RingHashTable(w, ring, useHostname);
  }
  if (lbPolicy === "MAGLEV") {
    const size = settings.maglevTableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    return (w) => new MaglevTable(w, size, useHostname);
  }
  return undefined;
}
