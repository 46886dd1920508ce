import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";
import type { FormatContext } from "./provider.ts";

const START = Date.UTC(2016, 3, 15, 20, 17, 0, 310);

/** A finished HTTP request with every StreamInfo field set. */
function fullInfo(): StreamInfo {
  const si = Object.assign(new StreamInfo(), {
    startTime: START,
    duration: 226.9,
    protocol: "HTTP/1.1",
    upstreamProtocol: "HTTP/2",
    responseCode: 204,
    responseCodeDetails: "via_upstream",
    connectionTerminationDetails: "idle timeout",
    bytesReceived: 154,
    bytesSent: 12,
    upstreamWireBytesSent: 400,
    upstreamWireBytesReceived: 300,
    requestHeadersBytes: 99,
    responseHeadersBytes: 77,
    upstreamHost: "10.0.2.1:80",
    upstreamCluster: "locations",
    upstreamLocalAddress: "10.0.0.5:41234",
    upstreamTransportFailureReason: "TLS error: bad cert",
    downstreamRemoteAddress: "10.0.35.28:51000",
    downstreamDirectRemoteAddress: "[2001:db8::7]:52000",
    downstreamLocalAddress: "10.0.0.5:10000",
    requestedServerName: "api.example.com",
    routeName: "route_a",
    virtualClusterName: "vc_a",
    connectionId: 17,
    streamId: "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2",
  });
  Object.assign(si.timings, {
    lastDownstreamRxByteReceived: 1.7,
    firstUpstreamTxByteSent: 2,
    lastUpstreamTxByteSent: 3.2,
    firstUpstreamRxByteReceived: 100.4,
    lastDownstreamTxByteSent: 226.5,
  });
  si.setFlag("UH");
  si.setFlag("UT");
  return si;
}

function render(name: string, ctx: FormatContext, arg = "") {
  const p = createProvider({ name, arg });
  return { text: p.text(ctx), value: p.value(ctx) };
}

/** [operator, text, typed value] for the full request above, and for an empty StreamInfo. */
const CASES: [string, unknown, unknown, unknown][] = [
  ["START_TIME", "2016-04-15T20:17:00.310Z", "2016-04-15T20:17:00.310Z", undefined],
  ["PROTOCOL", "HTTP/1.1", "HTTP/1.1", undefined],
  ["UPSTREAM_PROTOCOL", "HTTP/2", "HTTP/2", undefined],
  ["RESPONSE_CODE", "204", 204, 0],
  ["RESPONSE_CODE_DETAILS", "via_upstream", "via_upstream", undefined],
  ["CONNECTION_TERMINATION_DETAILS", "idle timeout", "idle timeout", undefined],
  ["RESPONSE_FLAGS", "UH,UT", "UH,UT", "-"],
  ["RESPONSE_FLAGS_LONG", "NoHealthyUpstream,UpstreamRequestTimeout", undefined, "-"],
  ["BYTES_RECEIVED", "154", 154, 0],
  ["BYTES_SENT", "12", 12, 0],
  ["UPSTREAM_WIRE_BYTES_SENT", "400", 400, 0],
  ["UPSTREAM_WIRE_BYTES_RECEIVED", "300", 300, 0],
  ["DURATION", "226", 226, undefined],
  ["REQUEST_DURATION", "1", 1, undefined],
  ["REQUEST_TX_DURATION", "3", 3, undefined],
  ["RESPONSE_DURATION", "100", 100, undefined],
  ["RESPONSE_TX_DURATION", "126", 126, undefined],
  ["UPSTREAM_HOST", "10.0.2.1:80", "10.0.2.1:80", undefined],
  ["UPSTREAM_CLUSTER", "locations", "locations", undefined],
  ["UPSTREAM_LOCAL_ADDRESS", "10.0.0.5:41234", "10.0.0.5:41234", undefined],
  ["UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "10.0.0.5", "10.0.0.5", undefined],
  ["UPSTREAM_LOCAL_PORT", "41234", 41234, undefined],
  ["UPSTREAM_REMOTE_ADDRESS", "10.0.2.1:80", "10.0.2.1:80", undefined],
  ["UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "10.0.2.1", "10.0.2.1", undefined],
  ["UPSTREAM_REMOTE_PORT", "80", 80, undefined],
  ["UPSTREAM_TRANSPORT_FAILURE_REASON", "TLS_error:_bad_cert", undefined, undefined],
  ["DOWNSTREAM_REMOTE_ADDRESS", "10.0.35.28:51000", undefined, undefined],
  ["DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "10.0.35.28", undefined, undefined],
  ["DOWNSTREAM_REMOTE_PORT", "51000", 51000, undefined],
  ["DOWNSTREAM_DIRECT_REMOTE_ADDRESS", "[2001:db8::7]:52000", undefined, undefined],
  ["DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", "2001:db8::7", undefined, undefined],
  ["DOWNSTREAM_DIRECT_REMOTE_PORT", "52000", 52000, undefined],
  ["DOWNSTREAM_LOCAL_ADDRESS", "10.0.0.5:10000", undefined, undefined],
  ["DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "10.0.0.5", undefined, undefined],
  ["DOWNSTREAM_LOCAL_PORT", "10000", 10000, undefined],
  ["REQUESTED_SERVER_NAME", "api.example.com", undefined, undefined],
  ["ROUTE_NAME", "route_a", undefined, undefined],
  ["VIRTUAL_CLUSTER_NAME", "vc_a", undefined, undefined],
  ["CONNECTION_ID", "17", 17, 0],
  ["STREAM_ID", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2", undefined, undefined],
  ["UPSTREAM_REQUEST_ATTEMPT_COUNT", "1", 1, 0],
];

for (const [name, text, typed, unset] of CASES) {
  Deno.test(`%${name}%`, () => {
    const full = render(name, { streamInfo: fullInfo() });
    assertEquals(full.text, text);
    // Operators whose typed value is their text leave it undefined in the table.
    assertEquals(full.value, typed ?? text);
    const empty = render(name, { streamInfo: new StreamInfo() });
    // These two always have a value: the clock's.
    if (name === "START_TIME" || name === "DURATION") return;
    assertEquals(empty.value, unset);
    assertEquals(empty.text, unset === undefined ? undefined : String(unset));
  });
}

Deno.test("%DURATION% of a stream still running is the time so far", () => {
  const si = Object.assign(new StreamInfo(), { startMonotonic: performance.now() - 50 });
  const ms = Number(render("DURATION", { streamInfo: si }).text);
  assert(ms >= 50 && ms < 10_000, `duration ${ms}`);
});

Deno.test("%START_TIME(format)%", () => {
  const si = fullInfo();
  assertEquals(render("START_TIME", { streamInfo: si }, "%s.%3f").text, "1460751420.310");
});

Deno.test("%REQUEST_HEADERS_BYTES% and %RESPONSE_HEADERS_BYTES% measure the header maps", () => {
  const si = fullInfo();
  const requestHeaders = HeaderMap.from([[":method", "GET"], ["host", "a"]]);
  const responseHeaders = HeaderMap.from([[":status", "200"]]);
  assertEquals(render("REQUEST_HEADERS_BYTES", { streamInfo: si, requestHeaders }).value, 15);
  assertEquals(render("RESPONSE_HEADERS_BYTES", { streamInfo: si, responseHeaders }).text, "10");
  // Without the maps (TCP), StreamInfo's counters.
  assertEquals(render("REQUEST_HEADERS_BYTES", { streamInfo: si }).value, 99);
  assertEquals(render("RESPONSE_HEADERS_BYTES", { streamInfo: si }).value, 77);
  assertEquals(render("RESPONSE_TRAILERS_BYTES", { streamInfo: si }).value, 0);
});

Deno.test("%HOSTNAME% is the machine's name", () => {
  assertEquals(render("HOSTNAME", { streamInfo: new StreamInfo() }).text, Deno.hostname());
});

Deno.test("%UNIQUE_ID% is a fresh UUID each time", () => {
  const p = createProvider({ name: "UNIQUE_ID", arg: "" });
  const ctx = { streamInfo: new StreamInfo() };
  const a = p.text(ctx);
  assertMatch(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert(a !== p.text(ctx));
});

Deno.test("%ENVIRONMENT(X):Z% is read at config load", () => {
  Deno.env.set("DENVOY_FORMATTER_TEST", "production");
  const p = createProvider({ name: "ENVIRONMENT", arg: "DENVOY_FORMATTER_TEST", maxLength: 4 });
  Deno.env.delete("DENVOY_FORMATTER_TEST");
  assertEquals(p.text({ streamInfo: new StreamInfo() }), "prod");
  const unset = createProvider({ name: "ENVIRONMENT", arg: "DENVOY_FORMATTER_TEST" });
  assertEquals(unset.text({ streamInfo: new StreamInfo() }), undefined);
});
