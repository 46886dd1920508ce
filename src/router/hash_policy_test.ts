import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { assert, assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { RouteAction_HashPolicy } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { uint64ToHex, xxHash64, xxHash64Values } from "../common/hash.ts";
import { HeaderMap } from "../http/header_map.ts";
import {
  compileHashPolicy,
  type HashPolicyInput,
  parseCookieValue,
  queryParameter,
} from "./hash_policy.ts";

function policy(json: JsonValue[]) {
  const schema = messageSchema<RouteAction_HashPolicy>(
    "envoy.config.route.v3.RouteAction.HashPolicy",
  );
  return compileHashPolicy(
    json.map((j) => fromJson(schema, j, { registry: apiRegistry() })),
    "hash_policy",
  )!;
}

const input: HashPolicyInput = {
  downstreamRemoteAddress: "10.1.2.3:5555",
  downstreamDirectRemoteAddress: "127.0.0.1:40000",
  downstreamLocalAddress: "127.0.0.1:10000",
  filterState: new Map<string, unknown>([["obj", { hash: () => 42n }], ["plain", "x"]]),
};

function hash(p: ReturnType<typeof policy>, headers: [string, string][], sink: string[] = []) {
  return p.generateHash(HeaderMap.from(headers), input, (c) => sink.push(c));
}

const rotl = (h: bigint) => ((h << 1n) | (h >> 63n)) & 0xffff_ffff_ffff_ffffn;

Deno.test("hash policy: header values (sorted when repeated, regex rewritten)", () => {
  const p = policy([{ header: { header_name: "X-User" } }]);
  assertEquals(hash(p, [["x-user", "foo"]]), xxHash64("foo"));
  assertEquals(hash(p, [["x-user", "bar"], ["x-user", "foo"]]), xxHashValuesOf("bar", "foo"));
  assertEquals(hash(p, [["x-user", "foo"], ["x-user", "bar"]]), xxHashValuesOf("bar", "foo"));
  assertEquals(hash(p, []), undefined);
  const rw = policy([{
    header: {
      header_name: ":path",
      regex_rewrite: { pattern: { regex: "^/(\\w+)/.*$" }, substitution: "\\1" },
    },
  }]);
  assertEquals(hash(rw, [[":path", "/users/7"]]), xxHash64("users"));
});

function xxHashValuesOf(...v: string[]) {
  return xxHash64Values(v);
}

Deno.test("hash policy: policies fold by rotate-xor; terminal stops once hashed", () => {
  const two = policy([{ header: { header_name: "a" } }, { header: { header_name: "b" } }]);
  assertEquals(hash(two, [["a", "1"], ["b", "2"]]), rotl(xxHash64("1")) ^ xxHash64("2"));
  assertEquals(hash(two, [["b", "2"]]), xxHash64("2"));
  const terminal = policy([
    { header: { header_name: "a" }, terminal: true },
    { header: { header_name: "b" } },
  ]);
  assertEquals(hash(terminal, [["a", "1"], ["b", "2"]]), xxHash64("1"));
  assertEquals(hash(terminal, [["b", "2"]]), xxHash64("2"));
});

Deno.test("hash policy: source ip, query parameter, filter state", () => {
  assertEquals(
    hash(policy([{ connection_properties: { source_ip: true } }]), []),
    xxHash64("10.1.2.3"),
  );
  const q = policy([{ query_parameter: { name: "user" } }]);
  assertEquals(hash(q, [[":path", "/a?x=1&user=bob&user=eve"]]), xxHash64("bob"));
  assertEquals(hash(q, [[":path", "/a?user"]]), xxHash64(""));
  assertEquals(hash(q, [[":path", "/a?username=x"]]), undefined);
  assertEquals(queryParameter("/p?a=1&b=2", "b"), "2");
  const fs = policy([{ filter_state: { key: "obj" } }]);
  assertEquals(hash(fs, []), 42n);
  assertEquals(hash(policy([{ filter_state: { key: "plain" } }]), []), undefined);
});

Deno.test("hash policy: cookie read, or generated with Set-Cookie when ttl is set", () => {
  const plain = policy([{ cookie: { name: "session" } }]);
  assertEquals(hash(plain, [["cookie", "a=1; session=abc"]]), xxHash64("abc"));
  const cookies: string[] = [];
  assertEquals(hash(plain, [], cookies), undefined);
  assertEquals(cookies, []);
  const gen = policy([{
    cookie: {
      name: "route",
      ttl: "3600s",
      path: "/app",
      attributes: [{ name: "SameSite", value: "Strict" }, { name: "Secure" }],
    },
  }]);
  const value = uint64ToHex(xxHash64("127.0.0.1:40000127.0.0.1:10000"));
  assertEquals(hash(gen, [], cookies), xxHash64(value));
  assertEquals(cookies, [
    `route="${value}"; Max-Age=3600; Path=/app; SameSite=Strict; Secure; HttpOnly`,
  ]);
  // A client that sends the cookie back keeps the same key, and gets no new cookie.
  const again: string[] = [];
  assertEquals(hash(gen, [["cookie", `route="${value}"`]], again), xxHash64(value));
  assertEquals(again, []);
  // ttl 0: a session cookie (no Max-Age).
  const session: string[] = [];
  hash(policy([{ cookie: { name: "r", ttl: "0s" } }]), [], session);
  assertEquals(session, [`r="${value}"; HttpOnly`]);
  assertEquals(parseCookieValue(HeaderMap.from([["cookie", "x=1"], ["cookie", "y=2"]]), "y"), "2");
});

Deno.test("hash policy: an empty list compiles to nothing; a bad regex is refused", () => {
  assertEquals(compileHashPolicy([], "hash_policy"), undefined);
  let threw = false;
  try {
    policy([{ header: { header_name: "a", regex_rewrite: { pattern: { regex: "(" } } } }]);
  } catch {
    threw = true;
  }
  assert(threw);
});
