import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import type { HeaderValueOption } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import {
  applyRequestHeaderMutations,
  applyResponseHeaderMutations,
  HeaderParser,
} from "./header_mutation.ts";
import { RouteTable } from "./route_table.ts";

function options(list: JsonValue[]): HeaderValueOption[] {
  const schema = messageSchema<HeaderValueOption>("envoy.config.core.v3.HeaderValueOption");
  return list.map((o) => fromJson(schema, o, { registry: apiRegistry() }));
}

function parser(add: JsonValue[], remove: string[] = []): HeaderParser {
  return HeaderParser.compile(options(add), remove, "vh", "request")!;
}

function run(p: HeaderParser, ...kv: string[]): [string, string][] {
  const h = new HeaderMap(kv);
  const si = new StreamInfo();
  si.downstreamRemoteAddress = "10.0.0.1:5555";
  p.evaluate(h, { requestHeaders: h, streamInfo: si });
  return h.entries();
}

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

const hv = (key: string, value: string, extra: Record<string, JsonValue> = {}) => ({
  header: { key, value },
  ...extra,
});

Deno.test("append actions (overwrites land before additions)", () => {
  const p = parser([
    hv("a", "new"),
    hv("b", "new", { appendAction: "ADD_IF_ABSENT" }),
    hv("c", "new", { appendAction: "ADD_IF_ABSENT" }),
    hv("d", "new", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }),
    hv("e", "new", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }),
    hv("f", "new", { appendAction: "OVERWRITE_IF_EXISTS" }),
    hv("g", "new", { appendAction: "OVERWRITE_IF_EXISTS" }),
  ]);
  assertEquals(run(p, "a", "old", "b", "old", "d", "old", "d", "old2", "f", "old"), [
    ["a", "old"],
    ["b", "old"],
    ["d", "new"],
    ["f", "new"],
    ["e", "new"],
    ["a", "new"],
    ["c", "new"],
  ]);
});

Deno.test("the deprecated append bool maps to append_action", () => {
  const p = parser([hv("a", "1", { append: true }), hv("b", "2", { append: false })]);
  assertEquals(run(p, "a", "0", "b", "0"), [["a", "0"], ["b", "2"], ["a", "1"]]);
  assertMatch(
    error(() => parser([hv("a", "1", { append: true, appendAction: "ADD_IF_ABSENT" })])),
    /^vh\.request_headers_to_add\[0\]: Both append and append_action are set and it's not allowed$/,
  );
});

Deno.test("removals first; values are computed before the level changes anything", () => {
  const p = parser([
    hv("x", "%REQ(x)%-seen"),
    hv("y", "1"),
    hv("y", "2", { appendAction: "ADD_IF_ABSENT" }),
    hv("z", "3"),
    hv("z", "4", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }),
  ], ["x", "Gone"]);
  // x was removed before formatting; y and z were absent when their actions were decided;
  // overwrites land before additions.
  assertEquals(run(p, "x", "old", "gone", "1"), [
    ["z", "4"],
    ["x", "-seen"],
    ["y", "1"],
    ["y", "2"],
    ["z", "3"],
  ]);
});

Deno.test("empty values are skipped unless keep_empty_value", () => {
  const p = parser([
    hv("a", "%REQ(missing)%"),
    hv("b", "%REQ(missing)%", { keepEmptyValue: true }),
    hv("c", ""),
  ]);
  assertEquals(run(p), [["b", ""]]);
});

Deno.test("format variables, %% and raw_value", () => {
  const p = parser([
    hv("client", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
    hv("path", "p=%REQ(:path)%"),
    hv("pct", "100%%"),
    { header: { key: "raw", rawValue: btoa("bytes") } },
  ]);
  assertEquals(run(p, ":path", "/x"), [
    [":path", "/x"],
    ["client", "10.0.0.1"],
    ["path", "p=/x"],
    ["pct", "100%"],
    ["raw", "bytes"],
  ]);
  assertMatch(
    error(() => parser([hv("a", "%NOT_AN_OPERATOR%")])),
    /^vh\.request_headers_to_add\[0\]\.header\.value: .*NOT_AN_OPERATOR/,
  );
});

Deno.test("pseudo-headers and host may not be modified or removed", () => {
  for (const key of [":path", ":authority", "Host"]) {
    assertMatch(
      error(() => parser([hv(key, "x")])),
      /:-prefixed or host headers may not be modified/,
    );
  }
  assertMatch(
    error(() => HeaderParser.compile([], ["host"], "route_config", "response")),
    /^route_config\.response_headers_to_remove\[0\]: :-prefixed or host headers may not be removed$/,
  );
  assertEquals(HeaderParser.compile([], [], "vh", "request"), undefined);
});

function table(mostSpecificWins: boolean): RouteTable {
  const level = (name: string) => ({
    requestHeadersToAdd: [
      hv("x-level", name, { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }),
      hv("x-all", name),
    ],
    responseHeadersToAdd: [
      hv("x-level", name, { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }),
      hv("x-req", "%REQ(x-in)%"),
    ],
  });
  const json = {
    name: "rc",
    mostSpecificHeaderMutationsWins: mostSpecificWins,
    ...level("config"),
    virtualHosts: [{
      name: "vh",
      domains: ["*"],
      ...level("vhost"),
      routes: [{
        match: { prefix: "/" },
        ...level("route"),
        route: { weightedClusters: { clusters: [{ name: "c", weight: 1, ...level("cluster") }] } },
      }],
    }],
  };
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  return new RouteTable(fromJson(schema, json, { registry: apiRegistry() }));
}

Deno.test("levels apply weighted cluster, route, virtual host, route configuration", () => {
  const m = table(false).route({ headers: HeaderMap.from([[":path", "/"]]), random: 0 })!;
  const req = HeaderMap.from([["x-in", "v"]]);
  const si = new StreamInfo();
  applyRequestHeaderMutations(m, req, si);
  assertEquals(req.get("x-level"), "config", "the least specific level overwrites last");
  assertEquals(req.getAll("x-all"), ["cluster", "route", "vhost", "config"]);
  const resp = HeaderMap.from([[":status", "200"]]);
  applyResponseHeaderMutations(m, resp, req, si);
  assertEquals(resp.get("x-level"), "config");
  assertEquals(resp.getAll("x-req"), ["v", "v", "v", "v"], "response values can read the request");
});

Deno.test("most_specific_header_mutations_wins reverses route, virtual host and configuration", () => {
  const m = table(true).route({ headers: HeaderMap.from([[":path", "/"]]), random: 0 })!;
  const req = new HeaderMap();
  applyRequestHeaderMutations(m, req, new StreamInfo());
  assertEquals(req.get("x-level"), "route");
  // Envoy evaluates the weighted cluster's own headers first either way.
  assertEquals(req.getAll("x-all"), ["cluster", "config", "vhost", "route"]);
});
