import { fromJson } from "@bufbuild/protobuf";
import { assertEquals, assertMatch } from "../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../config/api.ts";
import { StreamInfo } from "../../stream_info/stream_info.ts";
import type { SubstitutionFormatString } from "../../../proto/gen/envoy/config/core/v3/substitution_format_string_pb.ts";
import { logFormatter } from "./log_format.ts";

Deno.test("without log_format, Envoy's default format", () => {
  const line = logFormatter(undefined).format({ streamInfo: new StreamInfo() });
  assertMatch(
    line,
    /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "- - -" 0 - 0 0 \d+ - "-" "-" "-" "-" "-"\n$/,
  );
});

Deno.test("log_format is compiled", () => {
  const sfs = fromJson(
    messageSchema<SubstitutionFormatString>("envoy.config.core.v3.SubstitutionFormatString"),
    { text_format_source: { inline_string: "%RESPONSE_CODE%\n" } },
    { registry: apiRegistry() },
  );
  assertEquals(logFormatter(sfs).format({ streamInfo: new StreamInfo() }), "0\n");
});
