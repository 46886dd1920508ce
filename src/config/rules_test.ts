import type { DescField } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry } from "./api.ts";
import { checkRules, codePoints, utf8Length } from "./rules.ts";

function check(typeName: string, json: Record<string, unknown>): string[] {
  const desc = apiRegistry().getMessage(typeName)!;
  const present = new Set<DescField>(desc.fields.filter((f) => f.name in json));
  const out: string[] = [];
  // deno-lint-ignore no-explicit-any
  checkRules(desc, json as any, present, (m, f) => out.push(`${f ?? ""}: ${m}`));
  return out;
}

Deno.test("numeric ranges, including checks at the default value as PGV does", () => {
  const sa = "envoy.config.core.v3.SocketAddress";
  assertEquals(check(sa, { address: "a", port_value: 65535 }), []);
  assertEquals(check(sa, { address: "a", port_value: 65536 }), [
    "port_value: must be at most 65535 (is 65536)",
  ]);
  assertEquals(check(sa, { port_value: 1 }), ["address: must not be empty"]);
});

Deno.test("required messages, required oneofs and minimum list sizes", () => {
  assertEquals(check("envoy.config.route.v3.Route", {}), [
    "match: is required",
    ': one of "route", "redirect", "direct_response", "filter_action", "non_forwarding_action" ' +
    "must be set",
  ]);
  assertEquals(check("envoy.config.route.v3.RouteMatch", {}), [
    ': one of "prefix", "path", "safe_regex", "connect_matcher", "path_separated_prefix", ' +
    '"path_match_policy" must be set',
  ]);
  assertEquals(check("envoy.config.route.v3.VirtualHost", { name: "v", domains: [] }), [
    "domains: must not be empty",
  ]);
});

Deno.test("duration bounds", () => {
  const c = "envoy.config.cluster.v3.Cluster";
  assertEquals(check(c, { name: "c", connect_timeout: "0s" }), [
    "connect_timeout: must be longer than 0s (is 0s)",
  ]);
  assertEquals(check(c, { name: "c", connect_timeout: "0.25s" }), []);
});

Deno.test("string lengths count code points and UTF-8 bytes as [...s] and TextEncoder do", () => {
  for (
    const s of [
      "",
      "abc",
      "é",
      "€x",
      "😀",
      "a😀b",
      "\ud800",
      "x\udc00",
      "\ud800\ud800",
      "\udbff\udfff",
    ]
  ) {
    assertEquals(codePoints(s), [...s].length, JSON.stringify(s));
    assertEquals(utf8Length(s), new TextEncoder().encode(s).length, JSON.stringify(s));
  }
});
