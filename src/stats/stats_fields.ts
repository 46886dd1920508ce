/** Fields of the stats config that the stats store implements (see config/field_support.ts). */
import type { FieldTable } from "../config/field_support.ts";

/** `stats_config` and `stats_sinks` fields read by the stats modules. */
export const STATS_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.metrics.v3.StatsSink": ["name", "typed_config"],
    "envoy.config.metrics.v3.StatsConfig": ["stats_tags", "use_all_default_tags", "stats_matcher"],
    "envoy.config.metrics.v3.TagSpecifier": ["tag_name", "regex", "fixed_value"],
    "envoy.config.metrics.v3.StatsMatcher": ["reject_all", "exclusion_list", "inclusion_list"],
  },
};
