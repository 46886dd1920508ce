import { assert, assertEquals } from "../testing/assert.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";
import { monotonicNow } from "../common/monotonic_time.ts";

function info(): StreamInfo {
  const si = Object.assign(new StreamInfo(), { duration: 226.9 });
  Object.assign(si.timings, {
    lastDownstreamRxByteReceived: 1.7,
    upstreamConnectStart: -5.5,
    upstreamConnectComplete: -2.25,
    firstUpstreamTxByteSent: 2,
    lastUpstreamTxByteSent: 3.2,
    firstUpstreamRxByteReceived: 100.4,
    firstUpstreamRxBodyByteReceived: 101,
    lastUpstreamRxByteReceived: 200.0125,
    firstDownstreamTxByteSent: 100.9,
    lastDownstreamTxByteSent: 226.5,
    connectionPoolReadyLatency: 0.8,
  });
  si.customTimings = new Map([["auth_done", 50.5]]);
  return si;
}

function render(name: string, si: StreamInfo, arg = "") {
  const p = createProvider({ name, arg });
  return { text: p.text({ streamInfo: si }), value: p.value({ streamInfo: si }) };
}

const CASES: [string, string, number][] = [
  ["DURATION", "", 226],
  ["REQUEST_DURATION", "", 1],
  ["REQUEST_TX_DURATION", "", 3],
  ["RESPONSE_DURATION", "", 100],
  ["RESPONSE_TX_DURATION", "", 126],
  ["UPSTREAM_CONNECTION_POOL_READY_DURATION", "", 0],
  ["COMMON_DURATION", "DS_RX_BEG:DS_RX_END", 1],
  ["COMMON_DURATION", "DS_RX_BEG:DS_TX_END:us", 226500],
  ["COMMON_DURATION", "US_CX_BEG:US_CX_END:us", 3250],
  ["COMMON_DURATION", "US_TX_BEG:US_TX_END:ns", 1200000],
  ["COMMON_DURATION", "US_RX_BEG:US_RX_BODY_BEG:us", 600],
  ["COMMON_DURATION", "US_RX_BEG:US_RX_END:ms", 99],
  ["COMMON_DURATION", "DS_TX_BEG:DS_TX_END", 125],
  ["COMMON_DURATION", "DS_RX_BEG:auth_done", 50],
];

for (const [name, arg, value] of CASES) {
  Deno.test(`%${name}${arg ? `(${arg})` : ""}% is a whole number, truncated`, () => {
    const r = render(name, info(), arg);
    assertEquals(r, { text: String(value), value });
  });
}

Deno.test("milestones never reached leave durations unset", () => {
  const si = new StreamInfo();
  for (
    const name of [
      "REQUEST_DURATION",
      "REQUEST_TX_DURATION",
      "RESPONSE_DURATION",
      "RESPONSE_TX_DURATION",
      "DOWNSTREAM_HANDSHAKE_DURATION",
      "ROUNDTRIP_DURATION",
      "UPSTREAM_CONNECTION_POOL_READY_DURATION",
    ]
  ) assertEquals(render(name, si), { text: undefined, value: undefined }, name);
  assertEquals(render("COMMON_DURATION", si, "US_TX_BEG:US_RX_END").text, undefined);
  assertEquals(render("COMMON_DURATION", info(), "DS_RX_BEG:unknown_key").text, undefined);
  // An end before the start is no duration.
  assertEquals(render("COMMON_DURATION", info(), "DS_TX_END:DS_RX_BEG").text, undefined);
});

Deno.test("%DURATION% of a stream still running is the time so far", () => {
  // Stream times are on the dispatcher's approximate clock (common/monotonic_time.ts).
  const si = Object.assign(new StreamInfo(), { startMonotonic: monotonicNow() - 50 });
  const ms = Number(render("DURATION", si).text);
  assert(ms >= 50 && ms < 10_000, `duration ${ms}`);
});

Deno.test("bad COMMON_DURATION arguments are config errors, in Envoy's words", () => {
  const errorOf = (arg: string) => {
    try {
      createProvider({ name: "COMMON_DURATION", arg });
    } catch (e) {
      return (e as Error).message;
    }
    return "<no error>";
  };
  assertEquals(errorOf("DS_RX_BEG"), "Invalid common duration configuration: DS_RX_BEG.");
  assertEquals(errorOf("A:B:C:D"), "Invalid common duration configuration: A:B:C:D.");
  assertEquals(errorOf("A:B:s"), "Invalid common duration precision: s.");
  assertEquals(errorOf(""), "COMMON_DURATION requires parameters");
});
