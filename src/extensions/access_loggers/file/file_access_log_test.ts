import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals, assertMatch } from "../../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../../config/api.ts";
import { StreamInfo } from "../../../stream_info/stream_info.ts";
import type { FileAccessLog } from "../../../../proto/gen/envoy/extensions/access_loggers/file/v3/file_pb.ts";
import { AccessLogManager } from "../access_log_manager.ts";
import { createFileAccessLog, fileAccessLogFormatter } from "./file_access_log.ts";

function config(json: JsonValue): FileAccessLog {
  return fromJson(
    messageSchema<FileAccessLog>("envoy.extensions.access_loggers.file.v3.FileAccessLog"),
    json,
    { registry: apiRegistry() },
  );
}

const ctx = {
  streamInfo: Object.assign(new StreamInfo(), { responseCode: 201, protocol: "HTTP/1.1" }),
};

Deno.test("log_format text_format_source", () => {
  const f = fileAccessLogFormatter(config({
    path: "/dev/null",
    log_format: { text_format_source: { inline_string: "%PROTOCOL% %RESPONSE_CODE%\n" } },
  }));
  assertEquals(f.format(ctx), "HTTP/1.1 201\n");
});

Deno.test("log_format json_format is typed", () => {
  const f = fileAccessLogFormatter(config({
    path: "/dev/null",
    log_format: { json_format: { code: "%RESPONSE_CODE%" } },
  }));
  assertEquals(f.format(ctx), '{"code":201}\n');
});

Deno.test("deprecated format, json_format (strings) and typed_json_format", () => {
  const text = config({ path: "/dev/null", format: "%RESPONSE_CODE%\n" });
  assertEquals(fileAccessLogFormatter(text).format(ctx), "201\n");
  const json = config({ path: "/dev/null", json_format: { code: "%RESPONSE_CODE%" } });
  assertEquals(fileAccessLogFormatter(json).format(ctx), '{"code":"201"}\n');
  const typed = config({ path: "/dev/null", typed_json_format: { code: "%RESPONSE_CODE%" } });
  assertEquals(fileAccessLogFormatter(typed).format(ctx), '{"code":201}\n');
});

Deno.test("no format, or an empty one, is Envoy's default", () => {
  const pattern = /^\[[^\]]+\] "- - HTTP\/1.1" 201 - 0 0 \d+ - "-" "-" "-" "-" "-"\n$/;
  assertMatch(fileAccessLogFormatter(config({ path: "/dev/null" })).format(ctx), pattern);
  assertMatch(
    fileAccessLogFormatter(config({ path: "/dev/null", format: "" })).format(ctx),
    pattern,
  );
});

Deno.test("lines are appended to the file", async () => {
  const dir = await Deno.makeTempDir();
  const manager = new AccessLogManager();
  try {
    const path = `${dir}/access.log`;
    const logger = createFileAccessLog(config({ path, format: "%RESPONSE_CODE%\n" }), manager);
    logger.log(ctx);
    logger.log(ctx);
    await manager.flush();
    assertEquals(await Deno.readTextFile(path), "201\n201\n");
  } finally {
    await manager.close();
    await Deno.remove(dir, { recursive: true });
  }
});
