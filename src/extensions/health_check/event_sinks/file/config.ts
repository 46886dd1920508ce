/**
 * The health check event file sink (`envoy.health_check.event_sink.file`): a cluster's health
 * checks write their events (Envoy's `HealthCheckEvent` JSON, one per line) to its
 * `event_log_path`, as with the older `HealthCheck.event_log_path`. The health checker reads
 * the path out of the config (upstream/health_checker.ts); this entry makes the type known.
 */
import type { ExtensionFactory } from "../../../../config/extensions.ts";

/** Its config message. */
export const HEALTH_CHECK_EVENT_FILE_SINK =
  "envoy.extensions.health_check.event_sinks.file.v3.HealthCheckEventFileSink";

/** The one health check event sink denvoy has. */
export const healthCheckEventFileSinkFactory: ExtensionFactory = {
  name: "envoy.health_check.event_sink.file",
  category: "envoy.health_check.event_sinks",
  configTypes: [HEALTH_CHECK_EVENT_FILE_SINK],
  fields: { implemented: { [HEALTH_CHECK_EVENT_FILE_SINK]: ["event_log_path"] } },
};
