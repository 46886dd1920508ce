import { fromJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import { assertEquals } from "../../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../../config/api.ts";
import { StreamInfo } from "../../../stream_info/stream_info.ts";
import type {
  StderrAccessLog,
  StdoutAccessLog,
} from "../../../../proto/gen/envoy/extensions/access_loggers/stream/v3/stream_pb.ts";
import type { LogSink } from "../buffered_writer.ts";
import { AccessLogManager } from "../access_log_manager.ts";
import { createStderrAccessLog, createStdoutAccessLog } from "./stream_access_log.ts";

function config<T extends Message>(type: string, json: JsonValue): T {
  return fromJson(messageSchema<T>(`envoy.extensions.access_loggers.stream.v3.${type}`), json, {
    registry: apiRegistry(),
  });
}

function memorySink(): LogSink & { text: string } {
  return {
    text: "",
    write(p) {
      this.text += new TextDecoder().decode(p);
      return Promise.resolve(p.length);
    },
    close() {},
  };
}

Deno.test("stdout and stderr loggers write formatted lines to their streams", async () => {
  const stdout = memorySink(), stderr = memorySink();
  const manager = new AccessLogManager({ stdout, stderr });
  const format = { log_format: { text_format_source: { inline_string: "[%RESPONSE_CODE%]\n" } } };
  const out = createStdoutAccessLog(config<StdoutAccessLog>("StdoutAccessLog", format), manager);
  const err = createStderrAccessLog(config<StderrAccessLog>("StderrAccessLog", {}), manager);
  const streamInfo = Object.assign(new StreamInfo(), { responseCode: 404 });
  out.log({ streamInfo });
  err.log({ streamInfo });
  await manager.close();
  assertEquals(stdout.text, "[404]\n");
  // No log_format: Envoy's default format.
  assertEquals(stderr.text.includes('"- - -" 404 - 0 0 '), true);
});
