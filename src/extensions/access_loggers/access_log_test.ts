import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../../testing/assert.ts";
import { apiRegistry, messageSchema } from "../../config/api.ts";
import { StreamInfo } from "../../stream_info/stream_info.ts";
import type { AccessLog } from "../../../proto/gen/envoy/config/accesslog/v3/accesslog_pb.ts";
import type { LogSink } from "./buffered_writer.ts";
import { createAccessLogs } from "./access_log.ts";
import { AccessLogManager } from "./access_log_manager.ts";

function accessLog(json: JsonValue): AccessLog {
  return fromJson(messageSchema<AccessLog>("envoy.config.accesslog.v3.AccessLog"), json, {
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

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

const FILE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";

Deno.test("every logger of the list is built, in order, and logs", async () => {
  const dir = await Deno.makeTempDir();
  const stdout = memorySink();
  const manager = new AccessLogManager({ stdout });
  try {
    const logs = createAccessLogs([
      accessLog({
        name: "envoy.access_loggers.file",
        typed_config: {
          "@type": FILE,
          path: `${dir}/a.log`,
          log_format: { json_format: { c: "%RESPONSE_CODE%" } },
        },
      }),
      accessLog({
        name: "envoy.access_loggers.stdout",
        typed_config: { "@type": STDOUT, log_format: { text_format: "%RESPONSE_CODE%\n" } },
      }),
      // A file logger on /dev/stdout shares the stream with the stdout logger.
      accessLog({
        typed_config: { "@type": FILE, path: "/dev/stdout", format: "file:%RESPONSE_CODE%\n" },
      }),
    ], manager);
    assertEquals(logs.length, 3);
    const streamInfo = Object.assign(new StreamInfo(), { responseCode: 200 });
    for (const l of logs) l.log({ streamInfo });
    await manager.flush();
    assertEquals(await Deno.readTextFile(`${dir}/a.log`), '{"c":200}\n');
    assertEquals(stdout.text, "200\nfile:200\n");
  } finally {
    await manager.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an access log with a filter logs only what passes it", async () => {
  const stdout = memorySink();
  const manager = new AccessLogManager({ stdout });
  try {
    const [log] = createAccessLogs([accessLog({
      name: "envoy.access_loggers.stdout",
      filter: {
        status_code_filter: {
          comparison: { op: "GE", value: { default_value: 400, runtime_key: "k" } },
        },
      },
      typed_config: { "@type": STDOUT, log_format: { text_format: "%RESPONSE_CODE%\n" } },
    })], manager);
    log.log({ streamInfo: Object.assign(new StreamInfo(), { responseCode: 200 }) });
    log.log({ streamInfo: Object.assign(new StreamInfo(), { responseCode: 503 }) });
    await manager.flush();
    assertEquals(stdout.text, "503\n");
  } finally {
    await manager.close();
  }
});

Deno.test("unsupported logger types are named", () => {
  const config = accessLog({
    name: "envoy.access_loggers.http_grpc",
    typed_config: {
      "@type":
        "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
    },
  });
  const message = errorOf(() => createAccessLogs([config], new AccessLogManager()));
  assert(
    message.startsWith(
      "access log 'envoy.access_loggers.http_grpc': logger type " +
        "envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig is not supported",
    ),
    message,
  );
});

Deno.test("a config without typed_config is rejected", () => {
  assertEquals(
    errorOf(() => createAccessLogs([accessLog({ name: "x" })], new AccessLogManager())),
    "access log 'x' has no typed_config",
  );
});

Deno.test("format errors name the logger and the operator", () => {
  const config = accessLog({
    name: "main",
    typed_config: { "@type": STDOUT, log_format: { text_format: "%NOPE%" } },
  });
  assertEquals(
    errorOf(() => createAccessLogs([config], new AccessLogManager())),
    "access log 'main' (envoy.extensions.access_loggers.stream.v3.StdoutAccessLog): " +
      "Not supported field in StreamInfo: NOPE",
  );
});
