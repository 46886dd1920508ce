import { fromJson } from "@bufbuild/protobuf";
import type { DataSource } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "./api.ts";
import { dataSourceText } from "./data_source.ts";

const ds = (json: Record<string, string>) =>
  fromJson(messageSchema<DataSource>("envoy.config.core.v3.DataSource"), json, {
    registry: apiRegistry(),
  });

Deno.test("data sources: inline, bytes, file, environment; errors name the field", () => {
  assertEquals(dataSourceText(ds({ inline_string: "hi" }), "f"), "hi");
  assertEquals(dataSourceText(ds({ inline_bytes: btoa("by") }), "f"), "by");
  const file = Deno.makeTempFileSync();
  Deno.writeTextFileSync(file, "from file");
  assertEquals(dataSourceText(ds({ filename: file }), "f"), "from file");
  Deno.env.set("DENVOY_DS_TEST", "env");
  assertEquals(dataSourceText(ds({ environment_variable: "DENVOY_DS_TEST" }), "f"), "env");
  assertEquals(dataSourceText(undefined, "f"), undefined);
  let msg = "";
  try {
    dataSourceText(ds({ filename: "/nonexistent/x" }), "route.body");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertMatch(msg, /^route\.body\.filename: cannot read '\/nonexistent\/x'/);
});
