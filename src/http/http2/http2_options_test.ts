import { assertEquals } from "../../testing/assert.ts";
import { create } from "@bufbuild/protobuf";
import { Http2ProtocolOptionsSchema } from "../../../proto/gen/envoy/config/core/v3/protocol_pb.ts";
import { DEFAULT_HTTP2_OPTIONS } from "./connection.ts";
import { resolveHttp2Options } from "./http2_options.ts";

Deno.test("http2 options: Envoy's defaults", () => {
  const { options, problems } = resolveHttp2Options(undefined);
  assertEquals(problems, []);
  assertEquals(options, DEFAULT_HTTP2_OPTIONS);
  assertEquals(options.initialStreamWindowSize, 268435456);
  assertEquals(options.initialConnectionWindowSize, 268435456);
  assertEquals(options.maxConcurrentStreams, 2147483647);
  assertEquals(options.maxOutboundFrames, 10000);
  assertEquals(options.maxOutboundControlFrames, 1000);
  assertEquals(options.maxConsecutiveInboundFramesWithEmptyPayload, 1);
  assertEquals(options.maxInboundPriorityFramesPerStream, 100);
  assertEquals(options.maxInboundWindowUpdateFramesPerDataFrameSent, 10);
});

Deno.test("http2 options: fields, ranges and the stream error precedence", () => {
  const p = create(Http2ProtocolOptionsSchema, {
    maxConcurrentStreams: 100,
    initialStreamWindowSize: 65536,
    initialConnectionWindowSize: 1048576,
    allowConnect: true,
    streamErrorOnInvalidHttpMessaging: true,
    overrideStreamErrorOnInvalidHttpMessage: false,
  });
  let r = resolveHttp2Options(p, { maxRequestHeadersKb: 96, maxHeadersCount: 50 });
  assertEquals(r.problems, []);
  assertEquals(
    [r.options.maxConcurrentStreams, r.options.initialStreamWindowSize, r.options.allowConnect],
    [100, 65536, true],
  );
  assertEquals(r.options.streamErrorOnInvalidHttpMessaging, false);
  assertEquals([r.options.maxHeadersKb, r.options.maxHeadersCount], [96, 50]);
  // override_stream_error_on_invalid_http_message wins over the HCM's field...
  r = resolveHttp2Options(p, { streamErrorOnInvalidHttpMessage: true });
  assertEquals(r.options.streamErrorOnInvalidHttpMessaging, false);
  // ... which wins over the deprecated bool.
  const deprecated = create(Http2ProtocolOptionsSchema, {
    streamErrorOnInvalidHttpMessaging: true,
  });
  r = resolveHttp2Options(deprecated, { streamErrorOnInvalidHttpMessage: false });
  assertEquals(r.options.streamErrorOnInvalidHttpMessaging, false);
  assertEquals(resolveHttp2Options(deprecated).options.streamErrorOnInvalidHttpMessaging, true);
  r = resolveHttp2Options(create(Http2ProtocolOptionsSchema, { initialStreamWindowSize: 100 }));
  assertEquals(r.problems, ["initial_stream_window_size: value must be in [65535, 2147483647]"]);
  r = resolveHttp2Options(create(Http2ProtocolOptionsSchema, { allowMetadata: true }));
  assertEquals(r.problems, []);
  assertEquals(r.options.allowMetadata, true);
});

Deno.test("http2 options: custom_settings_parameters as Envoy validates them", () => {
  const custom = (params: [number, number][], named: Record<string, number> = {}) =>
    resolveHttp2Options(
      create(Http2ProtocolOptionsSchema, {
        ...named,
        customSettingsParameters: params.map(([identifier, value]) => ({ identifier, value })),
      }),
    );
  let r = custom([[0x3, 50], [0x5, 32768], [0x2, 0], [0x42, 7], [0x6, 8192]]);
  assertEquals(r.problems, []);
  assertEquals(
    [r.options.maxConcurrentStreams, r.options.maxFrameSize, r.options.customSettings],
    [50, 32768, [0x42, 7, 0x6, 8192]],
  );
  r = custom([[10, 0], [10, 1], [12, 10], [14, 1], [12, 10]]);
  assertEquals(r.problems, [
    "custom_settings_parameters: inconsistent HTTP/2 custom SETTINGS parameter(s) detected; " +
    "identifiers = {0x0a}",
  ]);
  assertEquals(custom([[2, 1]]).problems.length, 1);
  assertEquals(custom([[8, 1]]).problems.length, 1);
  r = custom([[1, 100], [4, 70000]], { hpackTableSize: 200, initialStreamWindowSize: 80000 });
  assertEquals(r.problems, [
    "custom_settings_parameters: the {hpack_table_size,initial_stream_window_size} HTTP/2 " +
    "SETTINGS parameter(s) can not be configured through both named and custom parameters",
  ]);
});
