import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals } from "../../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../../config/api.ts";
import { type ExtensionFactory, ExtensionRegistry } from "../../../config/extensions.ts";
import { stderrAccessLogFactory, stdoutAccessLogFactory } from "./config.ts";

function validate(factory: ExtensionFactory, json: JsonValue): [string, string | undefined][] {
  const config = fromJson(messageSchema(factory.configTypes[0]), json, { registry: apiRegistry() });
  const reports: [string, string | undefined][] = [];
  factory.validate!(config, {
    report: (message, field) => reports.push([message, field]),
    extensions: new ExtensionRegistry(),
    unsupported: (feature, field) => reports.push([`unsupported: ${feature}`, field]),
  });
  return reports;
}

Deno.test("stdout and stderr validation compiles log_format", () => {
  for (const factory of [stdoutAccessLogFactory, stderrAccessLogFactory]) {
    assertEquals(validate(factory, {}), []);
    assertEquals(validate(factory, { log_format: { text_format: "%PROTOCOL%" } }), []);
    assertEquals(validate(factory, { log_format: { text_format: "%PROTOCOL(x)%" } }), [
      ["PROTOCOL does not take any parameters or length", "log_format"],
    ]);
  }
});
