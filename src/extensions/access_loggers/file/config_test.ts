import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals } from "../../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../../config/api.ts";
import { ExtensionRegistry } from "../../../config/extensions.ts";
import { fileAccessLogFactory } from "./config.ts";

function validate(json: JsonValue): [string, string | undefined][] {
  const config = fromJson(
    messageSchema("envoy.extensions.access_loggers.file.v3.FileAccessLog"),
    json,
    { registry: apiRegistry() },
  );
  const reports: [string, string | undefined][] = [];
  fileAccessLogFactory.validate!(config, {
    report: (message, field) => reports.push([message, field]),
    extensions: new ExtensionRegistry(),
    unsupported: (feature, field) => reports.push([`unsupported: ${feature}`, field]),
  });
  return reports;
}

Deno.test("validation accepts good formats without opening the file", () => {
  assertEquals(validate({ path: "/nonexistent/dir/a.log", format: "%PROTOCOL%\n" }), []);
  assertEquals(validate({ path: "/nonexistent/dir/a.log" }), []);
});

Deno.test("validation reports a bad format at its field", () => {
  assertEquals(validate({ path: "/tmp/a.log", format: "%NOPE%" }), [
    ["Not supported field in StreamInfo: NOPE", "format"],
  ]);
  assertEquals(
    validate({ path: "/tmp/a.log", log_format: { json_format: { a: "%REQ()%" } } }),
    [["REQ requires parameters", "log_format"]],
  );
  assertEquals(validate({ path: "/tmp/a.log", typed_json_format: { a: "%BAD" } }), [
    [
      "Incorrect configuration: %BAD. Couldn't find valid command at position 0",
      "typed_json_format",
    ],
  ]);
});
