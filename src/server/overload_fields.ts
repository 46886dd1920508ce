/**
 * Fields of the overload manager's messages that overload_manager.ts and overload_state.ts
 * implement (see config/field_support.ts). `buffer_factory_config` (per-stream memory
 * accounting for `reset_high_memory_stream`) is refused.
 */
import type { FieldTable } from "../config/field_support.ts";

/** OverloadManager, resource monitors, triggers, actions, load shed points, timer scaling. */
export const OVERLOAD_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.overload.v3.OverloadManager": [
      "refresh_interval",
      "resource_monitors",
      "actions",
      "loadshed_points",
    ],
    "envoy.config.overload.v3.ResourceMonitor": ["name", "typed_config"],
    "envoy.config.overload.v3.OverloadAction": ["name", "triggers", "typed_config"],
    "envoy.config.overload.v3.LoadShedPoint": ["name", "triggers"],
    "envoy.config.overload.v3.Trigger": ["name", "threshold", "scaled"],
    "envoy.config.overload.v3.ThresholdTrigger": ["value"],
    "envoy.config.overload.v3.ScaledTrigger": ["scaling_threshold", "saturation_threshold"],
    "envoy.config.overload.v3.ScaleTimersOverloadActionConfig": ["timer_scale_factors"],
    "envoy.config.overload.v3.ScaleTimersOverloadActionConfig.ScaleTimer": [
      "timer",
      "min_timeout",
      "min_scale",
    ],
  },
};
