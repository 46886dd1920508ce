/**
 * The cluster manager: every cluster of the config by name, their initialization (Envoy's
 * "cm init", which the server waits for before it starts listeners), and a load balancer per
 * cluster for this thread. Workers build their own load balancers over snapshots of each
 * cluster's membership (`Cluster.prioritySet.snapshot()`).
 *
 * @module
 */
import type { Cluster as ClusterConfig } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { Cluster, ClusterConfigError, type ClusterDeps } from "./cluster.ts";
import { createLoadBalancer, type LoadBalancer } from "./load_balancer.ts";

/** Owns the clusters of a config. */
export class ClusterManager {
  readonly #clusters = new Map<string, Cluster>();
  readonly #lbs = new Map<string, LoadBalancer>();
  readonly #random: () => number;

  /**
   * Builds every cluster. Throws one Error listing all problems, each line naming its cluster,
   * so an operator sees every mistake in one run.
   */
  constructor(configs: readonly ClusterConfig[], deps: ClusterDeps = {}) {
    this.#random = deps.random ?? Math.random;
    const problems: string[] = [];
    for (const config of configs) {
      if (this.#clusters.has(config.name)) {
        problems.push(`cluster '${config.name}': duplicate cluster name`);
        continue;
      }
      try {
        this.#clusters.set(config.name, new Cluster(config, deps));
      } catch (e) {
        if (!(e instanceof ClusterConfigError)) throw e;
        problems.push(e.message);
      }
    }
    if (problems.length > 0) throw new Error(problems.join("\n"));
  }

  /** Resolves when every cluster has its first membership. */
  async initialize(): Promise<void> {
    await Promise.all([...this.#clusters.values()].map((c) => c.initialize()));
  }

  /** The cluster named `name`. */
  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /** Names of all clusters, in config order. */
  names(): string[] {
    return [...this.#clusters.keys()];
  }

  /** This thread's load balancer for cluster `name`, created on first use. */
  loadBalancer(name: string): LoadBalancer | undefined {
    let lb = this.#lbs.get(name);
    if (!lb) {
      const cluster = this.#clusters.get(name);
      if (!cluster) return undefined;
      lb = createLoadBalancer(cluster.info, cluster.prioritySet, this.#random);
      this.#lbs.set(name, lb);
    }
    return lb;
  }

  /** Stops every cluster's timers and load balancer. */
  destroy(): void {
    for (const lb of this.#lbs.values()) lb.destroy();
    this.#lbs.clear();
    for (const c of this.#clusters.values()) c.destroy();
  }
}
