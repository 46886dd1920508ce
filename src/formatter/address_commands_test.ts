import { assertEquals, assertMatch } from "../testing/assert.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";

function info(): StreamInfo {
  return Object.assign(new StreamInfo(), {
    downstreamRemoteAddress: "10.0.35.28:51000",
    downstreamDirectRemoteAddress: "[2001:db8:1234:5678::7]:52000",
    downstreamLocalAddress: "10.0.0.5:10000",
    upstreamHost: "10.0.2.1:80",
    upstreamHostDescription: { hostname: "backend.internal:8080" },
    upstreamLocalAddress: "10.0.0.5:41234",
    upstreamRemoteAddress: "10.0.2.1:80",
  });
}

function render(name: string, si: StreamInfo, arg = "") {
  const p = createProvider({ name, arg });
  return { text: p.text({ streamInfo: si }), value: p.value({ streamInfo: si }) };
}

/** [operator, argument, text, typed value (when not the text)] */
const CASES: [string, string, string, unknown?][] = [
  ["DOWNSTREAM_REMOTE_ADDRESS", "", "10.0.35.28:51000"],
  ["DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "", "10.0.35.28"],
  ["DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "24", "10.0.35.0/24"],
  ["DOWNSTREAM_REMOTE_PORT", "", "51000", 51000],
  ["DOWNSTREAM_DIRECT_REMOTE_ADDRESS", "", "[2001:db8:1234:5678::7]:52000"],
  ["DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", "", "2001:db8:1234:5678::7"],
  ["DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", "64", "2001:db8:1234:5678::/64"],
  ["DOWNSTREAM_DIRECT_REMOTE_PORT", "", "52000", 52000],
  ["DOWNSTREAM_LOCAL_ADDRESS", "", "10.0.0.5:10000"],
  ["DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "", "10.0.0.5"],
  ["DOWNSTREAM_LOCAL_PORT", "", "10000", 10000],
  // Without a listener filter restoring another, the direct local address is the local one.
  ["DOWNSTREAM_DIRECT_LOCAL_ADDRESS", "", "10.0.0.5:10000"],
  ["DOWNSTREAM_DIRECT_LOCAL_ADDRESS_WITHOUT_PORT", "8", "10.0.0.0/8"],
  ["DOWNSTREAM_DIRECT_LOCAL_PORT", "", "10000", 10000],
  ["UPSTREAM_LOCAL_ADDRESS", "", "10.0.0.5:41234"],
  ["UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "", "10.0.0.5"],
  ["UPSTREAM_LOCAL_PORT", "", "41234", 41234],
  ["UPSTREAM_REMOTE_ADDRESS", "", "10.0.2.1:80"],
  ["UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "", "10.0.2.1"],
  ["UPSTREAM_REMOTE_PORT", "", "80", 80],
  ["UPSTREAM_HOST", "", "10.0.2.1:80"],
  ["UPSTREAM_HOST_NAME", "", "backend.internal:8080"],
  ["UPSTREAM_HOST_NAME_WITHOUT_PORT", "", "backend.internal"],
];

for (const [name, arg, text, typed] of CASES) {
  Deno.test(`%${name}${arg ? `(${arg})` : ""}%`, () => {
    const r = render(name, info(), arg);
    assertEquals(r.text, text);
    assertEquals(r.value, typed ?? text);
    // Nothing recorded: "-" in text, null in JSON.
    const empty = render(
      name,
      Object.assign(new StreamInfo(), {
        downstreamRemoteAddress: "",
        downstreamDirectRemoteAddress: "",
        downstreamLocalAddress: "",
      }),
      arg,
    );
    assertEquals(empty, { text: undefined, value: undefined });
  });
}

Deno.test("UPSTREAM_HOST_NAME falls back to the host's address", () => {
  const si = Object.assign(info(), { upstreamHostDescription: { hostname: "" } });
  assertEquals(render("UPSTREAM_HOST_NAME", si).text, "10.0.2.1:80");
  assertEquals(render("UPSTREAM_HOST_NAME_WITHOUT_PORT", si).text, "10.0.2.1");
});

Deno.test("endpoint ids exist only for internal addresses", () => {
  for (
    const name of [
      "UPSTREAM_REMOTE_ADDRESS_ENDPOINT_ID",
      "DOWNSTREAM_LOCAL_ADDRESS_ENDPOINT_ID",
      "DOWNSTREAM_DIRECT_LOCAL_ADDRESS_ENDPOINT_ID",
    ]
  ) assertEquals(render(name, info()).text, undefined);
});

Deno.test("a bad MASK_PREFIX_LEN is a config error", () => {
  for (const arg of ["x", "129", "-1"]) {
    let message = "";
    try {
      createProvider({ name: "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", arg });
    } catch (e) {
      message = (e as Error).message;
    }
    assertMatch(message, /MASK_PREFIX_LEN must be a number from 0 to 128/);
  }
});
