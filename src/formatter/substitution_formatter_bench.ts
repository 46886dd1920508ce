/**
 * Cost of one access log line and of one route header value. Run with
 * `deno bench -A src/formatter/`.
 */
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import {
  compileFormat,
  compileJsonFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
} from "./substitution_formatter.ts";

const streamInfo = Object.assign(new StreamInfo(), {
  duration: 12.3,
  protocol: "HTTP/1.1",
  responseCode: 200,
  bytesReceived: 154,
  bytesSent: 1024,
  upstreamHost: "10.0.2.1:80",
  downstreamRemoteAddress: "10.0.35.28:40000",
});
const requestHeaders = HeaderMap.from([
  [":method", "GET"],
  [":path", "/api/v1/locations"],
  [":authority", "api.example.com"],
  [":scheme", "http"],
  ["user-agent", "curl/8.0"],
  ["accept", "*/*"],
  ["x-forwarded-for", "10.0.35.28"],
  ["x-request-id", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"],
]);
const responseHeaders = HeaderMap.from([
  [":status", "200"],
  ["content-type", "application/json"],
  ["x-envoy-upstream-service-time", "11"],
]);
const ctx = { streamInfo, requestHeaders, responseHeaders };

const text = compileFormat(DEFAULT_ACCESS_LOG_FORMAT);
const json = compileJsonFormat({
  start_time: "%START_TIME%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  protocol: "%PROTOCOL%",
  response_code: "%RESPONSE_CODE%",
  response_flags: "%RESPONSE_FLAGS%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  duration: "%DURATION%",
  upstream_host: "%UPSTREAM_HOST%",
  request_id: "%REQ(X-REQUEST-ID)%",
});
const header = compileFormat("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%");

Deno.bench("default text access log line", () => {
  text.format(ctx);
});

Deno.bench("typed JSON access log line (11 keys)", () => {
  json.format(ctx);
});

Deno.bench("route header value %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", () => {
  header.format(ctx);
});

Deno.bench("compile the default format", () => {
  compileFormat(DEFAULT_ACCESS_LOG_FORMAT);
});
