import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { FilterChain } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assert, assertEquals } from "../testing/assert.ts";

function assertThrows(f: () => unknown, _e: ErrorConstructor, includes: string): void {
  try {
    f();
  } catch (e) {
    assert((e as Error).message.includes(includes), (e as Error).message);
    return;
  }
  throw new Error(`did not throw: ${includes}`);
}
import { type ConnectionFacts, FilterChainMatcher, parseIp } from "./filter_chain_match.ts";

function chain(match: JsonObject | undefined): FilterChain {
  return fromJson(
    messageSchema<FilterChain>("envoy.config.listener.v3.FilterChain"),
    match ? { filter_chain_match: match } : {},
    { registry: apiRegistry() },
  );
}

function named(name: string, match: JsonObject): FilterChain {
  const c = chain(match);
  c.name = name;
  return c;
}

function matcher(chains: [string, JsonObject | undefined][], dflt?: string) {
  return new FilterChainMatcher(
    chains.map(([value, m]) => ({ config: chain(m), value })),
    dflt,
  );
}

const facts = (over: Partial<ConnectionFacts> = {}): ConnectionFacts => ({
  destinationIp: "127.0.0.1",
  destinationPort: 8080,
  sourceIp: "10.1.2.3",
  sourcePort: 40000,
  directSourceIp: "10.1.2.3",
  transportProtocol: "raw_buffer",
  applicationProtocols: [],
  ...over,
});

Deno.test("IPv4 and IPv6 parse into comparable values", () => {
  assertEquals(parseIp("10.0.0.1"), { v6: false, value: 0x0a000001n });
  assertEquals(parseIp("::1"), { v6: true, value: 1n });
  assertEquals(parseIp("[2001:db8::1]")?.v6, true);
  assertEquals(parseIp("::ffff:127.0.0.1"), { v6: false, value: 0x7f000001n });
  assertEquals(parseIp("300.1.1.1"), undefined);
  assertEquals(parseIp("host.example"), undefined);
});

Deno.test("destination port: a specific match beats a chain without one", () => {
  const m = matcher([["any", undefined], ["p8080", { destination_port: 8080 }]]);
  assertEquals(m.select(facts()), "p8080");
  assertEquals(m.select(facts({ destinationPort: 9090 })), "any");
});

Deno.test("longest prefix wins for destination and source ranges", () => {
  const m = matcher([
    ["wide", { source_prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }] }],
    ["narrow", { source_prefix_ranges: [{ address_prefix: "10.1.0.0", prefix_len: 16 }] }],
  ], "default");
  assertEquals(m.select(facts()), "narrow");
  assertEquals(m.select(facts({ sourceIp: "10.9.9.9" })), "wide");
  assertEquals(m.select(facts({ sourceIp: "192.168.1.1" })), "default");
  const d = matcher([["local", {
    prefix_ranges: [{ address_prefix: "127.0.0.0", prefix_len: 8 }],
  }]]);
  assertEquals(d.select(facts()), "local");
  assertEquals(d.select(facts({ destinationIp: "10.0.0.1" })), undefined);
});

Deno.test("criteria are checked in Envoy's order without backtracking", () => {
  // The port criterion picks "port" first; its source port then fails, and Envoy does not fall
  // back to the chain without a port: the default chain answers.
  const m = matcher([
    ["port", { destination_port: 8080, source_ports: [1] }],
    ["noport", undefined],
  ], "default");
  assertEquals(m.select(facts()), "default");
  assertEquals(m.select(facts({ sourcePort: 1 })), "port");
});

Deno.test("server names and transport protocol need TLS facts to match", () => {
  const m = matcher([
    ["tls", { server_names: ["*.example.com"], transport_protocol: "tls" }],
    ["plain", undefined],
  ]);
  assertEquals(m.select(facts()), "plain");
  assertEquals(
    m.select(facts({ serverName: "api.example.com", transportProtocol: "tls" })),
    "tls",
  );
});

Deno.test("source type: local vs external", () => {
  const m = matcher([["local", { source_type: "SAME_IP_OR_LOOPBACK" }], ["ext", {
    source_type: "EXTERNAL",
  }]]);
  assertEquals(m.select(facts({ sourceIp: "127.0.0.1" })), "local");
  assertEquals(m.select(facts({ sourceIp: "8.8.8.8" })), "ext");
});

Deno.test("server names: exact, then the longest wildcard suffix, never the bare domain", () => {
  const m = matcher([
    ["exact", { server_names: ["www.example.com"] }],
    ["wild", { server_names: ["*.example.com"] }],
    ["wilder", { server_names: ["*.b.example.com"] }],
    ["none", undefined],
  ]);
  const sni = (serverName: string) => m.select(facts({ serverName }));
  assertEquals(sni("WWW.example.com"), "exact");
  assertEquals(sni("api.example.com"), "wild");
  assertEquals(sni("a.b.example.com"), "wilder");
  assertEquals(sni("x.y.example.com"), "wild");
  assertEquals(sni("example.com"), "none");
  assertEquals(m.select(facts()), "none");
});

Deno.test("application protocols: the client's first protocol a chain names wins", () => {
  const m = matcher([
    ["h2", { application_protocols: ["h2"] }],
    ["h1", { application_protocols: ["http/1.1"] }],
  ], "default");
  assertEquals(m.select(facts({ applicationProtocols: ["http/1.1", "h2"] })), "h1");
  assertEquals(m.select(facts({ applicationProtocols: ["h2", "http/1.1"] })), "h2");
  assertEquals(m.select(facts({ applicationProtocols: ["spdy"] })), "default");
});

Deno.test("direct source ranges see the socket's peer, source ranges the PROXY source", () => {
  const m = matcher([
    ["lb", { direct_source_prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }] }],
    ["other", undefined],
  ]);
  assertEquals(m.select(facts({ sourceIp: "1.2.3.4", directSourceIp: "10.0.0.9" })), "lb");
  assertEquals(m.select(facts({ sourceIp: "10.0.0.9", directSourceIp: "1.2.3.4" })), "other");
  // Direct source comes before source type and source ranges.
  const n = matcher([
    ["direct", {
      direct_source_prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }],
      source_ports: [1],
    }],
    ["src", { source_prefix_ranges: [{ address_prefix: "1.2.3.4", prefix_len: 32 }] }],
  ], "default");
  assertEquals(n.select(facts({ sourceIp: "1.2.3.4", directSourceIp: "10.0.0.9" })), "default");
});

Deno.test("Envoy's refusals: partial wildcards, duplicate rules, suffix fields, bad CIDR", () => {
  assertThrows(
    () => matcher([["a", { server_names: ["w*.example.com"] }]]),
    Error,
    `partial wildcards are not supported in "server_names"`,
  );
  assertThrows(
    () =>
      new FilterChainMatcher([
        { config: named("one", { destination_port: 80 }), value: 1 },
        { config: named("two", { destination_port: 80 }), value: 2 },
      ]),
    Error,
    "filter chain 'two' has the same matching rules defined as 'one'",
  );
  assertThrows(() => matcher([["a", { address_suffix: "x" }]]), Error, "unimplemented fields");
  assertThrows(
    () => matcher([["a", { prefix_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 33 }] }]]),
    Error,
    "invalid prefix length",
  );
});

Deno.test("one chain without criteria takes every connection", () => {
  const m = matcher([["only", undefined]]);
  assertEquals(m.select(facts({ transportProtocol: "tls", serverName: "x" })), "only");
});

Deno.test("IPv6 ranges", () => {
  const m = matcher([
    ["v6", { source_prefix_ranges: [{ address_prefix: "2001:db8::", prefix_len: 32 }] }],
  ], "default");
  assertEquals(m.select(facts({ sourceIp: "2001:db8:1::5" })), "v6");
  assertEquals(m.select(facts({ sourceIp: "2001:db9::5" })), "default");
  assertEquals(m.select(facts({ sourceIp: "10.0.0.1" })), "default");
});
