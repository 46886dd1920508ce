/**
 * The retry host predicates (`envoy.retry_host_predicates.previous_hosts`, `omit_canary_hosts`,
 * `omit_host_metadata`), named in a retry policy's `retry_host_predicate`; router/retry_policy.ts
 * compiles and applies them.
 */
import type { ExtensionFactory } from "../../../config/extensions.ts";

const PREVIOUS_HOSTS = "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";
const OMIT_CANARY = "envoy.extensions.retry.host.omit_canary_hosts.v3.OmitCanaryHostsPredicate";
const OMIT_METADATA = "envoy.extensions.retry.host.omit_host_metadata.v3.OmitHostMetadataConfig";

/** `previous_hosts`: a retry avoids the hosts already attempted. */
export const previousHostsPredicateFactory: ExtensionFactory = {
  name: "envoy.retry_host_predicates.previous_hosts",
  category: "envoy.retry_host_predicates",
  configTypes: [PREVIOUS_HOSTS],
  fields: { implemented: { [PREVIOUS_HOSTS]: [] } },
};

/** `omit_canary_hosts`: a retry avoids canary hosts (`envoy.lb` metadata `canary: true`). */
export const omitCanaryHostsPredicateFactory: ExtensionFactory = {
  name: "envoy.retry_host_predicates.omit_canary_hosts",
  category: "envoy.retry_host_predicates",
  configTypes: [OMIT_CANARY],
  fields: { implemented: { [OMIT_CANARY]: [] } },
};

/** `omit_host_metadata`: a retry avoids hosts whose `envoy.lb` metadata matches. */
export const omitHostMetadataPredicateFactory: ExtensionFactory = {
  name: "envoy.retry_host_predicates.omit_host_metadata",
  category: "envoy.retry_host_predicates",
  configTypes: [OMIT_METADATA],
  fields: {
    implemented: {
      [OMIT_METADATA]: ["metadata_match"],
      "envoy.config.core.v3.Metadata": ["filter_metadata"],
    },
  },
};
