import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { FilterChain } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assertEquals } from "../testing/assert.ts";
import { type ConnectionFacts, FilterChainMatcher, parseIp } from "./filter_chain_match.ts";

function chain(match: JsonObject | undefined): FilterChain {
  return fromJson(
    messageSchema<FilterChain>("envoy.config.listener.v3.FilterChain"),
    match ? { filter_chain_match: match } : {},
    { registry: apiRegistry() },
  );
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
