/**
 * Envoy's zone aware routing (ZoneAwareLoadBalancerBase): with a local cluster
 * (`cluster_manager.local_cluster_name`) and this proxy's `node.locality`, a cluster sends as
 * much of its P=0 traffic to its hosts in the local locality as keeps every upstream host
 * about equally loaded: all of it when the upstream has at least the local cluster's share of
 * hosts there, else that ratio, the rest spread over the localities with spare capacity.
 * Shares are per 10,000 of healthy hosts, compared locality by locality; localities are
 * ordered local first, then by region, zone and sub-zone, as Envoy orders them.
 *
 * @module
 */
import { type HostDescription, type Locality, localityKey } from "./host.ts";

/** `common_lb_config.zone_aware_lb_config` with Envoy's defaults. */
export interface ZoneAwareSettings {
  /** `routing_enabled` in percent (default 100); runtime `upstream.zone_routing.enabled`. */
  readonly routingEnabled: number;
  /** `min_cluster_size` (default 6); runtime `upstream.zone_routing.min_cluster_size`. */
  readonly minClusterSize: number;
  /** `fail_traffic_on_panic`: no host instead of all hosts when a cluster is in panic. */
  readonly failTrafficOnPanic: boolean;
}

/** Envoy's defaults for zone aware routing. */
export const DEFAULT_ZONE_AWARE: ZoneAwareSettings = {
  routingEnabled: 100,
  minClusterSize: 6,
  failTrafficOnPanic: false,
};

/** Hosts grouped by locality in Envoy's order. */
export interface HostsPerLocality {
  readonly groups: readonly (readonly HostDescription[])[];
  /** The first group is the local locality's. */
  readonly hasLocal: boolean;
}

function compareLocality(a: Locality, b: Locality): number {
  for (const k of ["region", "zone", "subZone"] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return 0;
}

/**
 * `hosts` by locality: the local locality first when any host is in it, then the others
 * sorted; `keep` filters each group afterwards (healthy hosts keep the same indexes).
 */
export function hostsPerLocality(
  hosts: readonly HostDescription[],
  local: Locality,
  keep: (h: HostDescription) => boolean = () => true,
): HostsPerLocality {
  const byKey = new Map<string, { locality: Locality; hosts: HostDescription[] }>();
  for (const h of hosts) {
    const k = localityKey(h.locality);
    const g = byKey.get(k);
    if (g) g.hosts.push(h);
    else byKey.set(k, { locality: h.locality, hosts: [h] });
  }
  const localKey = localityKey(local);
  const hasLocal = byKey.has(localKey);
  const rest = [...byKey.entries()].filter(([k]) => k !== localKey)
    .sort((a, b) => compareLocality(a[1].locality, b[1].locality));
  const ordered = hasLocal
    ? [byKey.get(localKey)!, ...rest.map((e) => e[1])]
    : rest.map((e) => e[1]);
  return { groups: ordered.map((g) => g.hosts.filter(keep)), hasLocal };
}

/** How P=0 picks its locality. */
export type LocalityRoutingState =
  | { readonly kind: "none" }
  | { readonly kind: "direct" }
  | {
    readonly kind: "residual";
    /** Of 10,000 picks, how many go to the local locality. */
    readonly localPercentToRoute: number;
    /** Cumulative spare capacity per locality, for sampling the cross-locality pick. */
    readonly residualCapacity: readonly number[];
  };

/** Why zone routing is off, as Envoy counts it (a stat name suffix), or undefined. */
export type ZoneExitReason =
  | "lb_local_cluster_not_ok"
  | "lb_zone_number_differs"
  | "lb_zone_cluster_too_small";

/**
 * Envoy's regenerateLocalityRoutingStructures for P=0: `upstream` and `local` are the healthy
 * hosts per locality of the cluster and of the local cluster.
 */
export function localityRoutingState(
  upstream: HostsPerLocality,
  local: HostsPerLocality,
  minClusterSize: number,
): { state: LocalityRoutingState; exit?: ZoneExitReason } {
  const n = upstream.groups.length;
  if (n < 2) return { state: { kind: "none" } };
  if (!upstream.hasLocal || upstream.groups[0].length === 0) {
    return { state: { kind: "none" }, exit: "lb_local_cluster_not_ok" };
  }
  if (n !== local.groups.length) return { state: { kind: "none" }, exit: "lb_zone_number_differs" };
  const upstreamTotal = upstream.groups.reduce((a, g) => a + g.length, 0);
  if (upstreamTotal < minClusterSize) {
    return { state: { kind: "none" }, exit: "lb_zone_cluster_too_small" };
  }
  const localTotal = local.groups.reduce((a, g) => a + g.length, 0);
  const localPct = local.groups.map((g) =>
    localTotal > 0 ? Math.floor(10000 * g.length / localTotal) : 0
  );
  const upstreamPct = upstream.groups.map((g) => Math.floor(10000 * g.length / upstreamTotal));
  if (upstreamPct[0] > 0 && upstreamPct[0] >= localPct[0]) return { state: { kind: "direct" } };
  const localPercentToRoute = localPct[0] > 0
    ? Math.floor(upstreamPct[0] * 10000 / localPct[0])
    : 0;
  const residualCapacity: number[] = [];
  for (let i = 0; i < n; i++) {
    const last = i > 0 ? residualCapacity[i - 1] : 0;
    const spare = i === 0 ? 0 : Math.max(0, upstreamPct[i] - localPct[i]);
    residualCapacity.push(last + spare);
  }
  return { state: { kind: "residual", localPercentToRoute, residualCapacity } };
}

/** What a zone routed pick counts (`lb_zone_*` of the cluster). */
export type ZonePickStat =
  | "lb_zone_routing_all_directly"
  | "lb_zone_routing_sampled"
  | "lb_zone_routing_cross_zone"
  | "lb_zone_no_capacity_left";

/**
 * Envoy's tryChooseLocalLocalityHosts: the locality index for one pick, from uniformly random
 * integers; `count` is told which way it went (the cross-zone case may count twice).
 */
export function chooseLocality(
  state: LocalityRoutingState,
  localities: number,
  random: () => number,
  count: (stat: ZonePickStat) => void,
): number {
  if (state.kind === "direct") {
    count("lb_zone_routing_all_directly");
    return 0;
  }
  if (state.kind !== "residual") return 0;
  if (random() % 10000 < state.localPercentToRoute) {
    count("lb_zone_routing_sampled");
    return 0;
  }
  count("lb_zone_routing_cross_zone");
  const total = state.residualCapacity[localities - 1];
  if (total === 0) {
    count("lb_zone_no_capacity_left");
    return random() % localities;
  }
  const threshold = random() % total;
  let i = 0;
  while (threshold >= state.residualCapacity[i]) i++;
  return i;
}

/**
 * The zone aware routing context of a bootstrap: `cluster_manager.local_cluster_name` and
 * `node.locality`, `--service-zone` replacing its zone; undefined without a local cluster.
 */
export function localClusterOf(
  bootstrap: {
    clusterManager?: { localClusterName: string };
    node?: { locality?: { region: string; zone: string; subZone: string } };
  },
  serviceZone = "",
): { clusterName: string; locality: Locality } | undefined {
  const clusterName = bootstrap.clusterManager?.localClusterName ?? "";
  if (clusterName === "") return undefined;
  const l = bootstrap.node?.locality;
  return {
    clusterName,
    locality: {
      region: l?.region ?? "",
      zone: serviceZone || (l?.zone ?? ""),
      subZone: l?.subZone ?? "",
    },
  };
}
