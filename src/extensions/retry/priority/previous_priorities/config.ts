/**
 * `envoy.retry_priorities.previous_priorities`, named in a retry policy's `retry_priority`;
 * router/retry_policy.ts compiles it and the router keeps one state per request.
 */
import type { ExtensionFactory } from "../../../../config/extensions.ts";

/** The config message's full name. */
export const PREVIOUS_PRIORITIES =
  "envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig";

/** `previous_priorities`: retries avoid the priority levels already attempted. */
export const previousPrioritiesFactory: ExtensionFactory = {
  name: "envoy.retry_priorities.previous_priorities",
  category: "envoy.retry_priorities",
  configTypes: [PREVIOUS_PRIORITIES],
  fields: { implemented: { [PREVIOUS_PRIORITIES]: ["update_frequency"] } },
};
