/**
 * The `load_balancing_policy` extensions (`envoy.load_balancing_policies.*`) denvoy implements.
 * They are config only: the cluster reads the first supported policy of its list
 * (upstream/lb_policy_config.ts) and builds the matching load balancer.
 */
import type { ExtensionFactory } from "../../config/extensions.ts";
import type { FieldTable } from "../../config/field_support.ts";
import { LB_POLICY_TYPES } from "../../upstream/lb_policy_config.ts";

const COMMON = "envoy.extensions.load_balancing_policies.common.v3";

/** Messages shared by several policies (locality and consistent hashing settings). */
const COMMON_FIELDS: FieldTable = {
  implemented: {
    [`${COMMON}.LocalityLbConfig`]: ["locality_weighted_lb_config", "zone_aware_lb_config"],
    [`${COMMON}.LocalityLbConfig.ZoneAwareLbConfig`]: [
      "routing_enabled",
      "min_cluster_size",
      "fail_traffic_on_panic",
    ],
    [`${COMMON}.LocalityLbConfig.LocalityWeightedLbConfig`]: [],
    [`${COMMON}.ConsistentHashingLbConfig`]: ["use_hostname_for_hashing", "hash_balance_factor"],
    [`${COMMON}.SlowStartConfig`]: ["slow_start_window", "aggression", "min_weight_percent"],
  },
};

function policy(
  short: string,
  type: string,
  implemented: string[],
): ExtensionFactory {
  return {
    name: `envoy.load_balancing_policies.${short}`,
    category: "envoy.load_balancing_policies",
    configTypes: [type],
    fields: {
      implemented: { ...COMMON_FIELDS.implemented, [type]: implemented },
    },
  };
}

/** `envoy.load_balancing_policies.round_robin`. */
export const roundRobinPolicyFactory = policy(
  "round_robin",
  LB_POLICY_TYPES.ROUND_ROBIN,
  ["locality_lb_config", "slow_start_config"],
);

/** `envoy.load_balancing_policies.least_request`. */
export const leastRequestPolicyFactory = policy(
  "least_request",
  LB_POLICY_TYPES.LEAST_REQUEST,
  ["choice_count", "active_request_bias", "locality_lb_config", "slow_start_config"],
);

/** `envoy.load_balancing_policies.random`. */
export const randomPolicyFactory = policy("random", LB_POLICY_TYPES.RANDOM, [
  "locality_lb_config",
]);

/** `envoy.load_balancing_policies.ring_hash`. */
export const ringHashPolicyFactory = policy(
  "ring_hash",
  LB_POLICY_TYPES.RING_HASH,
  [
    "hash_function",
    "minimum_ring_size",
    "maximum_ring_size",
    "use_hostname_for_hashing",
    "consistent_hashing_lb_config",
    "locality_weighted_lb_config",
    "hash_balance_factor",
  ],
);

/** `envoy.load_balancing_policies.maglev`. */
export const maglevPolicyFactory = policy("maglev", LB_POLICY_TYPES.MAGLEV, [
  "table_size",
  "consistent_hashing_lb_config",
  "locality_weighted_lb_config",
]);
