import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { compileFormat, DEFAULT_ACCESS_LOG_FORMAT } from "./substitution_formatter.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

/** The request of Envoy's documented default-format example. */
function exampleRequest() {
  const streamInfo = Object.assign(new StreamInfo(), {
    startTime: Date.UTC(2016, 3, 15, 20, 17, 0, 310),
    duration: 226.4,
    protocol: "HTTP/2",
    responseCode: 204,
    bytesReceived: 154,
    bytesSent: 0,
    upstreamHost: "10.0.2.1:80",
    downstreamRemoteAddress: "10.0.35.28:40000",
  });
  const requestHeaders = HeaderMap.from([
    [":method", "POST"],
    [":path", "/api/v1/locations"],
    [":authority", "locations"],
    ["x-forwarded-for", "10.0.35.28"],
    ["user-agent", "nsq2http"],
    ["x-request-id", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"],
  ]);
  const responseHeaders = HeaderMap.from([
    [":status", "204"],
    ["x-envoy-upstream-service-time", "100"],
  ]);
  return { streamInfo, requestHeaders, responseHeaders };
}

Deno.test("the default format renders Envoy's documented example line", () => {
  assertEquals(
    compileFormat(DEFAULT_ACCESS_LOG_FORMAT).format(exampleRequest()),
    '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 ' +
      '"10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" ' +
      '"10.0.2.1:80"\n',
  );
});

Deno.test("the default format on a TCP connection prints - for what TCP lacks", () => {
  const streamInfo = Object.assign(new StreamInfo(), {
    startTime: Date.UTC(2020, 0, 2, 3, 4, 5, 6),
    duration: 5,
    bytesReceived: 10,
    bytesSent: 20,
    upstreamHost: "10.0.2.1:443",
  });
  assertEquals(
    compileFormat(DEFAULT_ACCESS_LOG_FORMAT).format({ streamInfo }),
    '[2020-01-02T03:04:05.006Z] "- - -" 0 - 10 20 5 - "-" "-" "-" "-" "10.0.2.1:443"\n',
  );
});

Deno.test("omitEmptyValues prints unset values as nothing", () => {
  const ctx = { streamInfo: new StreamInfo() };
  assertEquals(compileFormat("[%PROTOCOL%|%REQ(a)%]").format(ctx), "[-|-]");
  assertEquals(
    compileFormat("[%PROTOCOL%|%REQ(a)%]", { omitEmptyValues: true }).format(ctx),
    "[|]",
  );
});

Deno.test("literal-only and empty formats", () => {
  const ctx = { streamInfo: new StreamInfo() };
  assertEquals(compileFormat("").format(ctx), "");
  assertEquals(compileFormat("100%% done\n").format(ctx), "100% done\n");
});

Deno.test("a header value format (route headers) renders the operator alone", () => {
  const streamInfo = Object.assign(new StreamInfo(), {
    downstreamRemoteAddress: "[::1]:5555",
  });
  assertEquals(
    compileFormat("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%").format({ streamInfo }),
    "::1",
  );
});

Deno.test("max length truncation in a format string", () => {
  const { streamInfo, requestHeaders } = exampleRequest();
  assertEquals(
    compileFormat("%REQ(:PATH):7%|%REQ(USER-AGENT):100%").format({ streamInfo, requestHeaders }),
    "/api/v1|nsq2http",
  );
});

Deno.test("unknown operators and bad syntax fail at compile time, naming the problem", () => {
  assertEquals(
    errorOf(() => compileFormat("%START_TIME% %NO_SUCH_THING%")),
    "Not supported field in StreamInfo: NO_SUCH_THING",
  );
  assertEquals(
    errorOf(() => compileFormat("%BYTES_SENT")),
    "Incorrect configuration: %BYTES_SENT. Couldn't find valid command at position 0",
  );
});
