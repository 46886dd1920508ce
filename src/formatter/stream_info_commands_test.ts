import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";
import type { FormatContext } from "./provider.ts";

const START = Date.UTC(2016, 3, 15, 20, 17, 0, 310);

/** START as Envoy's local default format prints it in this process's time zone. */
const START_LOCAL = (() => {
  const offset = -new Date(START).getTimezoneOffset();
  const shifted = new Date(START + offset * 60_000).toISOString().slice(0, 23);
  const abs = Math.abs(offset);
  const zone = (offset < 0 ? "-" : "+") + String(Math.floor(abs / 60)).padStart(2, "0") +
    String(abs % 60).padStart(2, "0");
  return shifted + zone;
})();

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
    upstreamHeaderBytesSent: 180,
    upstreamHeaderBytesReceived: 90,
    downstreamWireBytesSent: 350,
    downstreamWireBytesReceived: 420,
    requestHeadersBytes: 99,
    responseHeadersBytes: 77,
    upstreamHost: "10.0.2.1:80",
    upstreamCluster: "locations",
    upstreamClusterDescription: { name: "locations", statName: "locations_alt" },
    upstreamConnectionId: 44,
    attemptCount: 1,
    customFlags: "CF1,CF2",
    downstreamTransportFailureReason: "tls handshake failed",
    downstreamDetectedCloseType: "RemoteReset",
    downstreamLocalCloseReason: "idle_timeout",
    upstreamDetectedCloseType: "Normal",
    upstreamLocalCloseReason: "read_error",
    filterChain: { name: "chain_a" },
    upstreamLocalAddress: "10.0.0.5:41234",
    upstreamTransportFailureReason: "TLS error: bad cert",
    downstreamRemoteAddress: "10.0.35.28:51000",
    downstreamDirectRemoteAddress: "[2001:db8::7]:52000",
    downstreamLocalAddress: "10.0.0.5:10000",
    requestedServerName: "api.example.com",
    route: { route: { name: "route_a" } } as unknown as StreamInfo["route"],
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
  ["START_TIME_LOCAL", START_LOCAL, START_LOCAL, undefined],
  ["RESPONSE_CODE_DETAILS", "via_upstream", "via_upstream", undefined],
  ["CONNECTION_TERMINATION_DETAILS", "idle timeout", "idle timeout", undefined],
  ["RESPONSE_FLAGS", "UH,UT", "UH,UT", "-"],
  ["RESPONSE_FLAGS_LONG", "NoHealthyUpstream,UpstreamRequestTimeout", undefined, "-"],
  ["BYTES_RECEIVED", "154", 154, 0],
  ["BYTES_SENT", "12", 12, 0],
  ["BYTES_RETRANSMITTED", "0", 0, 0],
  ["PACKETS_RETRANSMITTED", "0", 0, 0],
  ["UPSTREAM_WIRE_BYTES_SENT", "400", 400, 0],
  ["UPSTREAM_WIRE_BYTES_RECEIVED", "300", 300, 0],
  ["UPSTREAM_HEADER_BYTES_SENT", "180", 180, 0],
  ["UPSTREAM_HEADER_BYTES_RECEIVED", "90", 90, 0],
  ["UPSTREAM_DECOMPRESSED_HEADER_BYTES_SENT", "180", 180, 0],
  ["UPSTREAM_DECOMPRESSED_HEADER_BYTES_RECEIVED", "90", 90, 0],
  ["DOWNSTREAM_WIRE_BYTES_SENT", "350", 350, 0],
  ["DOWNSTREAM_WIRE_BYTES_RECEIVED", "420", 420, 0],
  ["DOWNSTREAM_HEADER_BYTES_SENT", "77", 77, 0],
  ["DOWNSTREAM_HEADER_BYTES_RECEIVED", "99", 99, 0],
  ["DOWNSTREAM_DECOMPRESSED_HEADER_BYTES_SENT", "77", 77, 0],
  ["DOWNSTREAM_DECOMPRESSED_HEADER_BYTES_RECEIVED", "99", 99, 0],
  ["UPSTREAM_CLUSTER", "locations_alt", undefined, undefined],
  ["UPSTREAM_CLUSTER_RAW", "locations", undefined, undefined],
  ["UPSTREAM_TRANSPORT_FAILURE_REASON", "TLS_error:_bad_cert", undefined, undefined],
  ["DOWNSTREAM_TRANSPORT_FAILURE_REASON", "tls_handshake_failed", undefined, undefined],
  ["DOWNSTREAM_DETECTED_CLOSE_TYPE", "RemoteReset", undefined, undefined],
  ["DOWNSTREAM_LOCAL_CLOSE_REASON", "idle_timeout", undefined, undefined],
  ["UPSTREAM_DETECTED_CLOSE_TYPE", "Normal", undefined, undefined],
  ["UPSTREAM_LOCAL_CLOSE_REASON", "read_error", undefined, undefined],
  ["REQUESTED_SERVER_NAME", "api.example.com", undefined, undefined],
  ["ROUTE_NAME", "route_a", undefined, undefined],
  ["VIRTUAL_CLUSTER_NAME", "vc_a", undefined, undefined],
  ["FILTER_CHAIN_NAME", "chain_a", undefined, undefined],
  ["CONNECTION_ID", "17", 17, 0],
  ["UPSTREAM_CONNECTION_ID", "44", 44, 0],
  ["STREAM_ID", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2", undefined, undefined],
  ["UPSTREAM_REQUEST_ATTEMPT_COUNT", "1", 1, 0],
  ["CUSTOM_FLAGS", "CF1,CF2", undefined, ""],
];

for (const [name, text, typed, unset] of CASES) {
  Deno.test(`%${name}%`, () => {
    const full = render(name, { streamInfo: fullInfo() });
    assertEquals(full.text, text);
    // Operators whose typed value is their text leave it undefined in the table.
    assertEquals(full.value, typed ?? text);
    const empty = render(name, { streamInfo: new StreamInfo() });
    // These always have a value: the clock's.
    if (name.startsWith("START_TIME")) return;
    assertEquals(empty.value, unset);
    assertEquals(empty.text, unset === undefined ? undefined : String(unset));
  });
}

Deno.test("%START_TIME(format)%", () => {
  const si = fullInfo();
  assertEquals(render("START_TIME", { streamInfo: si }, "%s.%3f").text, "1460751420.310");
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
  // Unset is the text "-", in typed JSON too (Envoy's literal default).
  const unset = createProvider({ name: "ENVIRONMENT", arg: "DENVOY_FORMATTER_TEST" });
  assertEquals(unset.text({ streamInfo: new StreamInfo() }), "-");
  assertEquals(unset.value({ streamInfo: new StreamInfo() }), "-");
});

Deno.test("%EMIT_TIME(format)% is the time the entry is written", () => {
  const before = Math.floor(Date.now() / 1000);
  const t = Number(render("EMIT_TIME", { streamInfo: fullInfo() }, "%s").text);
  assert(t >= before && t <= before + 5, `emit time ${t}`);
});

Deno.test("%RESPONSE_CODE_DETAILS% turns blanks into _ unless ALLOW_WHITESPACES", () => {
  const si = Object.assign(new StreamInfo(), { responseCodeDetails: "upstream reset: x\ty" });
  assertEquals(render("RESPONSE_CODE_DETAILS", { streamInfo: si }).text, "upstream_reset:_x_y");
  assertEquals(
    render("RESPONSE_CODE_DETAILS", { streamInfo: si }, "ALLOW_WHITESPACES").text,
    "upstream reset: x\ty",
  );
});

Deno.test("%REQUESTED_SERVER_NAME(X:Y)% falls back to the host as asked", () => {
  const requestHeaders = HeaderMap.from([[":authority", "host.example"], [
    "x-envoy-original-host",
    "orig.example",
  ]]);
  const noSni = { streamInfo: new StreamInfo(), requestHeaders };
  const withSni = { streamInfo: fullInfo(), requestHeaders };
  assertEquals(render("REQUESTED_SERVER_NAME", noSni).text, undefined);
  assertEquals(render("REQUESTED_SERVER_NAME", noSni, "SNI_FIRST").text, "orig.example");
  assertEquals(render("REQUESTED_SERVER_NAME", noSni, "SNI_FIRST:HOST").text, "host.example");
  assertEquals(render("REQUESTED_SERVER_NAME", withSni, "SNI_FIRST").text, "api.example.com");
  assertEquals(render("REQUESTED_SERVER_NAME", withSni, "HOST_FIRST:ORIG").text, "orig.example");
  let message = "";
  try {
    createProvider({ name: "REQUESTED_SERVER_NAME", arg: "BOTH" });
  } catch (e) {
    message = (e as Error).message;
  }
  assertMatch(message, /Invalid REQUESTED_SERVER_NAME option: 'BOTH'/);
});

Deno.test("%ROUTE_NAME% is unset for a route without a name", () => {
  const si = fullInfo();
  si.route = { route: { name: "" } } as unknown as StreamInfo["route"];
  assertEquals(render("ROUTE_NAME", { streamInfo: si }).text, undefined);
});
