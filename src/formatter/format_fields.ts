/** Fields of `SubstitutionFormatString` that the formatter implements (see config/field_support.ts). */
import type { FieldTable } from "../config/field_support.ts";

/** Format string fields read by formatter/substitution_format_string.ts. */
export const FORMAT_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.core.v3.SubstitutionFormatString": [
      "text_format",
      "json_format",
      "text_format_source",
      "omit_empty_values",
      "content_type",
      "json_format_options",
    ],
    "envoy.config.core.v3.JsonFormatOptions": ["sort_properties"],
  },
  // checkFormatters refuses formatter extensions by name.
  checked: { "envoy.config.core.v3.SubstitutionFormatString": ["formatters"] },
};
