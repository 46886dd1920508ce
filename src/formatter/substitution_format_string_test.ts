import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import type { SubstitutionFormatString } from "../../proto/gen/envoy/config/core/v3/substitution_format_string_pb.ts";
import { compileSubstitutionFormatString } from "./substitution_format_string.ts";

function config(json: JsonValue): SubstitutionFormatString {
  return fromJson(
    messageSchema<SubstitutionFormatString>("envoy.config.core.v3.SubstitutionFormatString"),
    json,
    {
      registry: apiRegistry(),
    },
  );
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

const ctx = { streamInfo: Object.assign(new StreamInfo(), { responseCode: 503 }) };

Deno.test("text_format (deprecated) and text_format_source inline_string", () => {
  const a = compileSubstitutionFormatString(
    config({ text_format: "%RESPONSE_CODE% %ROUTE_NAME%" }),
  );
  assertEquals(a.formatter.format(ctx), "503 -");
  assertEquals(a.contentType, "text/plain");
  const b = compileSubstitutionFormatString(config({
    text_format_source: { inline_string: "%RESPONSE_CODE% %ROUTE_NAME%\n" },
    omit_empty_values: true,
  }));
  assertEquals(b.formatter.format(ctx), "503 \n");
});

Deno.test("text_format_source from bytes, a file and the environment", async () => {
  const bytes = config({ text_format_source: { inline_bytes: btoa("code=%RESPONSE_CODE%") } });
  assertEquals(compileSubstitutionFormatString(bytes).formatter.format(ctx), "code=503");
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, "file:%RESPONSE_CODE%");
    const file = config({ text_format_source: { filename: path } });
    assertEquals(compileSubstitutionFormatString(file).formatter.format(ctx), "file:503");
  } finally {
    await Deno.remove(path);
  }
  Deno.env.set("DENVOY_SFS_TEST", "env:%RESPONSE_CODE%");
  const env = config({ text_format_source: { environment_variable: "DENVOY_SFS_TEST" } });
  assertEquals(compileSubstitutionFormatString(env).formatter.format(ctx), "env:503");
  Deno.env.delete("DENVOY_SFS_TEST");
  assertEquals(
    errorOf(() => compileSubstitutionFormatString(env)),
    "text_format_source.environment_variable: DENVOY_SFS_TEST is not set",
  );
});

Deno.test("json_format is typed JSON with application/json", () => {
  const f = compileSubstitutionFormatString(config({
    json_format: { status: "%RESPONSE_CODE%", route: "%ROUTE_NAME%" },
    omit_empty_values: true,
  }));
  assertEquals(f.formatter.format(ctx), '{"status":503}\n');
  assertEquals(f.contentType, "application/json");
});

Deno.test("content_type overrides the default", () => {
  const f = compileSubstitutionFormatString(config({
    text_format_source: { inline_string: "<b>%RESPONSE_CODE%</b>" },
    content_type: "text/html; charset=UTF-8",
  }));
  assertEquals(f.contentType, "text/html; charset=UTF-8");
});

Deno.test("json_format_options.sort_properties sorts keys", () => {
  const f = compileSubstitutionFormatString(config({
    json_format: { z: "%RESPONSE_CODE%", a: "x" },
    json_format_options: { sort_properties: true },
  }));
  assertEquals(f.formatter.format(ctx), '{"a":"x","z":503}\n');
});

Deno.test("built-in formatter extensions are accepted; others are rejected by name", () => {
  const f = compileSubstitutionFormatString(config({
    text_format_source: { inline_string: "%REQ_WITHOUT_QUERY(:PATH)% %METADATA(ROUTE:a)%" },
    formatters: [
      {
        name: "envoy.formatter.req_without_query",
        typed_config: {
          "@type":
            "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery",
        },
      },
      {
        name: "envoy.formatter.metadata",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.formatter.metadata.v3.Metadata",
        },
      },
    ],
  }));
  assertEquals(f.formatter.format(ctx), "- -");
  assertEquals(
    errorOf(() =>
      compileSubstitutionFormatString(config({
        text_format: "x",
        formatters: [{
          name: "envoy.formatter.cel",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel" },
        }],
      }))
    ),
    "formatter extension 'envoy.formatter.cel' (envoy.extensions.formatter.cel.v3.Cel) is not " +
      "supported (supported: envoy.formatter.metadata, envoy.formatter.req_without_query)",
  );
  assertEquals(
    errorOf(() => compileSubstitutionFormatString(config({}))),
    "SubstitutionFormatString sets none of text_format, text_format_source, json_format",
  );
});
