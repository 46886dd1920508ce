/**
 * A cluster's load balancing policy from its config: the `lb_policy` enum with its
 * `*_lb_config` and `common_lb_config`, or the `load_balancing_policy` extension list (the
 * first policy of the list that denvoy implements wins, as in Envoy; `lb_policy` is then
 * ignored). Problems are collected, not thrown, so validate lists them all.
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type {
  Cluster as ClusterConfig,
  Cluster_LbSubsetConfig,
} from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type { RuntimeDouble } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { LocalityLbConfig } from "../../proto/gen/envoy/extensions/load_balancing_policies/common/v3/common_pb.ts";
import type { LeastRequest } from "../../proto/gen/envoy/extensions/load_balancing_policies/least_request/v3/least_request_pb.ts";
import type { Maglev } from "../../proto/gen/envoy/extensions/load_balancing_policies/maglev/v3/maglev_pb.ts";
import type { Random } from "../../proto/gen/envoy/extensions/load_balancing_policies/random/v3/random_pb.ts";
import type { RingHash } from "../../proto/gen/envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash_pb.ts";
import type { RoundRobin } from "../../proto/gen/envoy/extensions/load_balancing_policies/round_robin/v3/round_robin_pb.ts";
import { unpackAny } from "../config/any.ts";
import type { LbSettings } from "./lb_base.ts";
import { DEFAULT_MAGLEV_TABLE_SIZE, isPrime } from "./maglev_lb.ts";
import { DEFAULT_PANIC_THRESHOLD } from "./priority_load.ts";
import { DEFAULT_RING_HASH, type RingHashSettings } from "./ring_hash_lb.ts";
import type { SlowStartSettings } from "./slow_start.ts";
import { DEFAULT_ZONE_AWARE, type ZoneAwareSettings } from "./zone_aware.ts";
import type { SubsetFallback, SubsetSelector, SubsetSettings } from "./subset_lb.ts";

/** Type names of the `load_balancing_policy` extensions implemented, by policy. */
export const LB_POLICY_TYPES = {
  ROUND_ROBIN: "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
  LEAST_REQUEST: "envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
  RANDOM: "envoy.extensions.load_balancing_policies.random.v3.Random",
  RING_HASH: "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash",
  MAGLEV: "envoy.extensions.load_balancing_policies.maglev.v3.Maglev",
} as const;

const POLICY_BY_TYPE = new Map<string, string>(
  Object.entries(LB_POLICY_TYPES).map(([policy, type]) => [type, policy]),
);

/** The policy's name and settings. */
export interface LbPolicyConfig {
  /** The effective policy, by its `lb_policy` enum name. */
  readonly lbPolicy: string;
  readonly lb: LbSettings;
}

/** Policy-specific settings, on top of what `common_lb_config` gives. */
type PolicySettings = Omit<LbSettings, "healthyPanicThreshold" | "localityWeighted"> & {
  localityWeighted?: boolean;
};

const BASE: PolicySettings = { choiceCount: 2, activeRequestBias: 1 };

function typeNameOf(any: Any | undefined): string {
  const url = any?.typeUrl ?? "";
  return url.slice(url.lastIndexOf("/") + 1);
}

/** Reads the cluster's policy; unsupported or invalid settings land in `problems`. */
export function lbPolicyConfig(
  config: ClusterConfig,
  lbPolicyName: string,
  problems: string[],
  clusterProvided = false,
): LbPolicyConfig {
  const common = config.commonLbConfig;
  const consistent = common?.consistentHashingLbConfig;
  let policy = lbPolicyName;
  let own: PolicySettings;
  if (config.loadBalancingPolicy) {
    const chosen = config.loadBalancingPolicy.policies
      .map((p) => p.typedExtensionConfig?.typedConfig)
      .find((any) => POLICY_BY_TYPE.has(typeNameOf(any)));
    if (!chosen) {
      problems.push(
        "load_balancing_policy: none of the policies is supported (supported: " +
          `${Object.values(LB_POLICY_TYPES).join(", ")})`,
      );
      own = BASE;
    } else {
      policy = POLICY_BY_TYPE.get(typeNameOf(chosen))!;
      own = typedPolicySettings(policy, chosen, problems);
    }
  } else {
    own = enumPolicySettings(config, policy, problems, clusterProvided);
  }
  if (consistent?.useHostnameForHashing && own.useHostnameForHashing === undefined) {
    own = { ...own, useHostnameForHashing: true };
  }
  // The common config's bound serves both consistent-hash policies of either form unless the
  // policy sets its own; Envoy reads it only for them.
  if (
    consistent?.hashBalanceFactor !== undefined && own.hashBalanceFactor === undefined &&
    (policy === "RING_HASH" || policy === "MAGLEV")
  ) {
    own = {
      ...own,
      hashBalanceFactor: balanceFactor(
        consistent.hashBalanceFactor,
        "common_lb_config.consistent_hashing_lb_config",
        problems,
      ),
    };
  }
  const locality = common?.localityConfigSpecifier;
  const zone = own.zoneAware ??
    (locality?.case === "zoneAwareLbConfig" ? zoneAwareSettings(locality.value) : undefined);
  if (zone) own = { ...own, zoneAware: zone };
  const subset = config.lbSubsetConfig
    ? subsetSettings(config.lbSubsetConfig, problems)
    : undefined;
  if (subset) own = { ...own, subset };
  const panic = common?.healthyPanicThreshold?.value;
  const { localityWeighted, ...rest } = own;
  return {
    lbPolicy: policy,
    lb: {
      healthyPanicThreshold: panic === undefined
        ? DEFAULT_PANIC_THRESHOLD
        : Math.min(100, Math.round(panic)),
      localityWeighted: localityWeighted ??
        common?.localityConfigSpecifier.case === "localityWeightedLbConfig",
      ...rest,
    },
  };
}

const SUBSET_FALLBACKS: readonly SubsetFallback[] = [
  "NO_FALLBACK",
  "ANY_ENDPOINT",
  "DEFAULT_SUBSET",
];
const SELECTOR_FALLBACKS: readonly (SubsetSelector["fallback"])[] = [
  undefined,
  "NO_FALLBACK",
  "ANY_ENDPOINT",
  "DEFAULT_SUBSET",
  "KEYS_SUBSET",
];

/** `lb_subset_config` resolved, with Envoy's checks of selectors. */
function subsetSettings(c: Cluster_LbSubsetConfig, problems: string[]): SubsetSettings {
  if (c.localityWeightAware) {
    problems.push("lb_subset_config.locality_weight_aware is not supported yet");
  }
  if (c.scaleLocalityWeight) {
    problems.push("lb_subset_config.scale_locality_weight is not supported yet");
  }
  if (c.panicModeAny) problems.push("lb_subset_config.panic_mode_any is not supported yet");
  if (c.metadataFallbackPolicy !== 0) {
    problems.push("lb_subset_config.metadata_fallback_policy is not supported yet");
  }
  const selectors = c.subsetSelectors.map((sel, i): SubsetSelector => {
    if (sel.singleHostPerSubset) {
      problems.push(
        `lb_subset_config.subset_selectors[${i}].single_host_per_subset is not supported yet`,
      );
    }
    const keys = [...new Set(sel.keys)].sort();
    const fallback = SELECTOR_FALLBACKS[sel.fallbackPolicy];
    const fallbackKeys = [...new Set(sel.fallbackKeysSubset)].sort();
    if (fallback !== "KEYS_SUBSET") {
      if (fallbackKeys.length > 0) {
        problems.push("fallback_keys_subset can be set only for KEYS_SUBSET fallback_policy");
      }
    } else if (fallbackKeys.length === 0) {
      problems.push("fallback_keys_subset cannot be empty");
    } else if (!fallbackKeys.every((k) => keys.includes(k))) {
      problems.push("fallback_keys_subset must be a subset of selector keys");
    } else if (fallbackKeys.length === keys.length) {
      problems.push("fallback_keys_subset cannot be equal to keys");
    }
    return {
      keys,
      ...(fallback ? { fallback } : {}),
      ...(fallback === "KEYS_SUBSET" ? { fallbackKeys } : {}),
    };
  });
  return {
    fallbackPolicy: SUBSET_FALLBACKS[c.fallbackPolicy] ?? "NO_FALLBACK",
    defaultSubset: c.defaultSubset ?? {},
    selectors,
    listAsAny: c.listAsAny,
  };
}

/** The fields both forms of `slow_start_config` have. */
interface SlowStartConfig {
  slowStartWindow?: { seconds: bigint; nanos: number };
  aggression?: RuntimeDouble;
  minWeightPercent?: { value: number };
}

/** `slow_start_config` resolved; undefined when unset or its window is 0 (off, as in Envoy). */
function slowStartSettings(c: SlowStartConfig | undefined): SlowStartSettings | undefined {
  const w = c?.slowStartWindow;
  const windowMs = w ? Number(w.seconds) * 1000 + Math.floor(w.nanos / 1e6) : 0;
  if (!c || windowMs <= 0) return undefined;
  return {
    windowMs,
    aggression: c.aggression?.defaultValue ?? 1,
    ...(c.aggression?.runtimeKey ? { aggressionRuntimeKey: c.aggression.runtimeKey } : {}),
    minWeightFraction: (c.minWeightPercent?.value ?? 10) / 100,
  };
}

function withSlowStart(s: PolicySettings, c: SlowStartConfig | undefined): PolicySettings {
  const slowStart = slowStartSettings(c);
  return slowStart ? { ...s, slowStart } : s;
}

function enumPolicySettings(
  config: ClusterConfig,
  policy: string,
  problems: string[],
  clusterProvided: boolean,
): PolicySettings {
  const lbConfig = config.lbConfig;
  switch (policy) {
    case "ROUND_ROBIN": {
      const rr = lbConfig.case === "roundRobinLbConfig" ? lbConfig.value : undefined;
      return withSlowStart(BASE, rr?.slowStartConfig);
    }
    case "RANDOM":
      break;
    case "LEAST_REQUEST": {
      const lr = lbConfig.case === "leastRequestLbConfig" ? lbConfig.value : undefined;
      return withSlowStart(
        leastRequestSettings(lr?.choiceCount, lr?.activeRequestBias),
        lr?.slowStartConfig,
      );
    }
    case "RING_HASH": {
      const rh = lbConfig.case === "ringHashLbConfig" ? lbConfig.value : undefined;
      return {
        ...BASE,
        ringHash: ringHashSettings(
          rh?.minimumRingSize,
          rh?.maximumRingSize,
          rh?.hashFunction === 1 ? "MURMUR_HASH_2" : "XX_HASH",
          problems,
        ),
      };
    }
    case "MAGLEV": {
      const m = lbConfig.case === "maglevLbConfig" ? lbConfig.value : undefined;
      return { ...BASE, maglevTableSize: maglevTableSize(m?.tableSize, problems) };
    }
    case "CLUSTER_PROVIDED":
      // Only cluster types that provide their own balancer (ORIGINAL_DST) take it.
      if (!clusterProvided) problems.push("lb_policy CLUSTER_PROVIDED is not supported yet");
      break;
    default:
      problems.push(`lb_policy ${policy} is not supported yet`);
  }
  return BASE;
}

function leastRequestSettings(
  choiceCount: number | undefined,
  bias: RuntimeDouble | undefined,
): PolicySettings {
  return {
    choiceCount: choiceCount ?? 2,
    activeRequestBias: bias?.defaultValue ?? 1,
    ...(bias?.runtimeKey ? { activeRequestBiasRuntimeKey: bias.runtimeKey } : {}),
  };
}

function ringHashSettings(
  min: bigint | undefined,
  max: bigint | undefined,
  hashFunction: RingHashSettings["hashFunction"],
  problems: string[],
): RingHashSettings {
  const minimumRingSize = min === undefined ? DEFAULT_RING_HASH.minimumRingSize : Number(min);
  const maximumRingSize = max === undefined ? DEFAULT_RING_HASH.maximumRingSize : Number(max);
  if (minimumRingSize > maximumRingSize) {
    problems.push(
      `ring hash: minimum_ring_size (${minimumRingSize}) > maximum_ring_size (${maximumRingSize})`,
    );
  }
  return { minimumRingSize, maximumRingSize, hashFunction };
}

function maglevTableSize(size: bigint | undefined, problems: string[]): number {
  const n = size === undefined ? DEFAULT_MAGLEV_TABLE_SIZE : Number(size);
  if (!isPrime(n)) problems.push("The table size of maglev must be prime number");
  return n;
}

/** The fields both forms of `zone_aware_lb_config` have. */
interface ZoneAwareConfig {
  routingEnabled?: { value: number };
  minClusterSize?: bigint;
  failTrafficOnPanic: boolean;
}

/** `zone_aware_lb_config` with Envoy's defaults (routing enabled 100%, min cluster size 6). */
function zoneAwareSettings(c: ZoneAwareConfig): ZoneAwareSettings {
  return {
    routingEnabled: c.routingEnabled
      ? Math.round(c.routingEnabled.value)
      : DEFAULT_ZONE_AWARE.routingEnabled,
    minClusterSize: c.minClusterSize === undefined
      ? DEFAULT_ZONE_AWARE.minClusterSize
      : Number(c.minClusterSize),
    failTrafficOnPanic: c.failTrafficOnPanic,
  };
}

/** A typed policy's `locality_lb_config`: locality weighted, or zone aware settings. */
function localitySettings(c: LocalityLbConfig | undefined): PolicySettings | undefined {
  const s = c?.localityConfigSpecifier;
  if (s?.case === "zoneAwareLbConfig") {
    return { ...BASE, localityWeighted: false, zoneAware: zoneAwareSettings(s.value) };
  }
  return s?.case === "localityWeightedLbConfig" ? { ...BASE, localityWeighted: true } : undefined;
}

function withLocality(s: PolicySettings, c: LocalityLbConfig | undefined): PolicySettings {
  const l = localitySettings(c);
  return l
    ? {
      ...s,
      localityWeighted: l.localityWeighted,
      ...(l.zoneAware ? { zoneAware: l.zoneAware } : {}),
    }
    : s;
}

function typedPolicySettings(policy: string, any: Any, problems: string[]): PolicySettings {
  switch (policy) {
    case "ROUND_ROBIN": {
      const c = unpackAny<RoundRobin>(any);
      return withSlowStart(withLocality(BASE, c?.localityLbConfig), c?.slowStartConfig);
    }
    case "LEAST_REQUEST": {
      const c = unpackAny<LeastRequest>(any);
      return withSlowStart(
        withLocality(
          leastRequestSettings(c?.choiceCount, c?.activeRequestBias),
          c?.localityLbConfig,
        ),
        c?.slowStartConfig,
      );
    }
    case "RANDOM": {
      const c = unpackAny<Random>(any);
      return withLocality(BASE, c?.localityLbConfig);
    }
    case "RING_HASH": {
      const c = unpackAny<RingHash>(any);
      const consistent = c?.consistentHashingLbConfig;
      const factor = consistent?.hashBalanceFactor ?? c?.hashBalanceFactor;
      const useHostname = (c?.useHostnameForHashing ?? false) ||
        (consistent?.useHostnameForHashing ?? false);
      return {
        ...BASE,
        ringHash: ringHashSettings(
          c?.minimumRingSize,
          c?.maximumRingSize,
          c?.hashFunction === 2 ? "MURMUR_HASH_2" : "XX_HASH",
          problems,
        ),
        ...(useHostname ? { useHostnameForHashing: true } : {}),
        ...(c?.localityWeightedLbConfig ? { localityWeighted: true } : {}),
        ...(factor !== undefined
          ? { hashBalanceFactor: balanceFactor(factor, "ring_hash", problems) }
          : {}),
      };
    }
    default: {
      const c = unpackAny<Maglev>(any);
      const consistent = c?.consistentHashingLbConfig;
      const factor = consistent?.hashBalanceFactor;
      return {
        ...BASE,
        ...(factor !== undefined
          ? { hashBalanceFactor: balanceFactor(factor, "maglev", problems) }
          : {}),
        maglevTableSize: maglevTableSize(c?.tableSize, problems),
        ...(consistent?.useHostnameForHashing ? { useHostnameForHashing: true } : {}),
        ...(c?.localityWeightedLbConfig ? { localityWeighted: true } : {}),
      };
    }
  }
}

/** `hash_balance_factor`: at least 100 (a host's bound is never below the average load). */
function balanceFactor(value: number, where: string, problems: string[]): number {
  if (!Number.isInteger(value) || value < 100) {
    problems.push(`${where}.hash_balance_factor: must be at least 100, got ${value}`);
  }
  return value;
}
