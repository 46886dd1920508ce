import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { Matcher } from "../../proto/gen/xds/type/matcher/v3/matcher_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assert, assertEquals } from "../testing/assert.ts";
import type { ConnectionFacts } from "./filter_chain_match.ts";
import { FilterChainMatcherTree } from "./filter_chain_matcher_tree.ts";

const NET = "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.";

function input(name: string): JsonObject {
  return { name, typed_config: { "@type": `${NET}${name}` } };
}

function action(chain: string): JsonObject {
  return {
    action: {
      name: chain,
      typed_config: { "@type": "type.googleapis.com/google.protobuf.StringValue", value: chain },
    },
  };
}

function tree(m: JsonObject, names: string[], dflt?: string) {
  const matcher = fromJson(messageSchema<Matcher>("xds.type.matcher.v3.Matcher"), m, {
    registry: apiRegistry(),
  });
  return new FilterChainMatcherTree(
    matcher,
    names.map((n) => ({ config: { name: n }, value: n })),
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

function throwsWith(f: () => unknown, text: string) {
  try {
    f();
  } catch (e) {
    assert((e as Error).message.includes(text), (e as Error).message);
    return;
  }
  throw new Error(`did not throw: ${text}`);
}

Deno.test("matcher tree: transport protocol exact map with on_no_match (Envoy's TLS example)", () => {
  const m = tree({
    matcher_tree: {
      input: input("TransportProtocolInput"),
      exact_match_map: { map: { tls: action("tls") } },
    },
    on_no_match: action("plaintext"),
  }, ["tls", "plaintext"]);
  assertEquals(m.select(facts({ transportProtocol: "tls" })), "tls");
  assertEquals(m.select(facts()), "plaintext");
});

Deno.test("matcher tree: server name, port, ALPN and nested matchers", () => {
  const m = tree(
    {
      matcher_tree: {
        input: input("DestinationPortInput"),
        exact_match_map: {
          map: {
            "8080": {
              matcher: {
                matcher_tree: {
                  input: input("ServerNameInput"),
                  prefix_match_map: { map: { "api.": action("api"), "": action("web") } },
                },
              },
            },
            "9090": {
              matcher: {
                matcher_list: {
                  matchers: [{
                    predicate: {
                      single_predicate: {
                        input: input("ApplicationProtocolInput"),
                        value_match: { contains: "'h2'" },
                      },
                    },
                    on_match: action("h2"),
                  }],
                },
              },
            },
          },
        },
      },
    },
    ["api", "web", "h2"],
    "dflt",
  );
  assertEquals(m.select(facts({ serverName: "api.example.com" })), "api");
  assertEquals(m.select(facts({ serverName: "www.example.com" })), "web");
  // No server name is no data: the prefix map is not consulted, and the nested matcher fails.
  assertEquals(m.select(facts()), "dflt");
  assertEquals(
    m.select(facts({ destinationPort: 9090, applicationProtocols: ["http/1.1", "h2"] })),
    "h2",
  );
  assertEquals(m.select(facts({ destinationPort: 9090 })), "dflt");
});

Deno.test("matcher tree: IP matcher, most specific first; exclusive ones skipped after it", () => {
  const ranges = (p: string, len: number) => [{ address_prefix: p, prefix_len: len }];
  const m = tree({
    matcher_tree: {
      input: input("SourceIPInput"),
      custom_match: {
        name: "ip",
        typed_config: {
          "@type": "type.googleapis.com/xds.type.matcher.v3.IPMatcher",
          range_matchers: [
            { ranges: ranges("10.0.0.0", 8), on_match: action("wide") },
            {
              ranges: ranges("10.1.0.0", 16),
              on_match: {
                matcher: {
                  matcher_list: {
                    matchers: [{
                      predicate: {
                        single_predicate: {
                          input: input("SourcePortInput"),
                          value_match: { exact: "1" },
                        },
                      },
                      on_match: action("narrow"),
                    }],
                  },
                },
              },
            },
            { ranges: ranges("10.0.0.0", 8), exclusive: true, on_match: action("never") },
          ],
        },
      },
    },
  }, ["wide", "narrow", "never"]);
  assertEquals(m.select(facts({ sourcePort: 1 })), "narrow");
  // The /16 fails its nested match: the non-exclusive /8 answers.
  assertEquals(m.select(facts()), "wide");
  assertEquals(m.select(facts({ sourceIp: "192.168.0.1" })), undefined);
});

Deno.test("matcher tree: and/or/not predicates over source type and direct source", () => {
  const m = tree({
    matcher_list: {
      matchers: [{
        predicate: {
          and_matcher: {
            predicate: [
              {
                single_predicate: {
                  input: input("SourceTypeInput"),
                  value_match: { exact: "local" },
                },
              },
              {
                not_matcher: {
                  single_predicate: {
                    input: input("DirectSourceIPInput"),
                    value_match: { prefix: "10." },
                  },
                },
              },
            ],
          },
        },
        on_match: action("local"),
      }],
    },
    on_no_match: action("other"),
  }, ["local", "other"]);
  assertEquals(m.select(facts({ sourceIp: "127.0.0.1", directSourceIp: "127.0.0.1" })), "local");
  assertEquals(m.select(facts({ sourceIp: "127.0.0.1", directSourceIp: "10.0.0.1" })), "other");
  assertEquals(m.select(facts()), "other");
});

Deno.test("matcher tree: an action naming no chain gives the default chain", () => {
  const m = tree({ on_no_match: action("missing") }, ["a"], "dflt");
  assertEquals(m.select(facts()), "dflt");
});

Deno.test("matcher tree refusals: names, inputs, actions, custom matchers", () => {
  throwsWith(
    () => tree({}, [""]),
    `"name" field is required when using a listener matcher`,
  );
  throwsWith(() => tree({}, ["a", "a"]), `"name" field is duplicated with value 'a'`);
  throwsWith(
    () =>
      tree({
        matcher_tree: {
          input: input("FilterStateInput"),
          exact_match_map: { map: {} },
        },
      }, []),
    "is not a network input",
  );
  throwsWith(
    () =>
      tree({
        on_no_match: {
          action: {
            name: "x",
            typed_config: { "@type": "type.googleapis.com/google.protobuf.UInt32Value", value: 1 },
          },
        },
      }, []),
    "must be a google.protobuf.StringValue",
  );
});
