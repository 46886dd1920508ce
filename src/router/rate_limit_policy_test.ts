import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { assertEquals } from "../testing/assert.ts";
import { RateLimitSchema } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { HeaderMap } from "../http/header_map.ts";
import { compileRateLimitPolicy, type DescriptorContext } from "./rate_limit_policy.ts";

const ctx = (headers: [string, string][] = []): DescriptorContext => ({
  headers: new HeaderMap(headers.flat()),
  remoteAddress: "[2001:db8::1]:4711",
  clusterName: "backend",
  localServiceCluster: "front",
  routeMetadata: undefined,
  dynamicMetadata: undefined,
});

/** The descriptor one `rate_limits` entry with `actions` makes for `c`. */
function descriptor(actions: MessageInitShape<typeof RateLimitSchema>["actions"], c = ctx()) {
  const [entry] = compileRateLimitPolicy([create(RateLimitSchema, { actions })], "rate_limits");
  return entry.descriptor(c);
}

Deno.test("rate limit policy: each action adds its entry, in order", () => {
  assertEquals(
    descriptor([
      { actionSpecifier: { case: "sourceCluster", value: {} } },
      { actionSpecifier: { case: "destinationCluster", value: {} } },
      { actionSpecifier: { case: "remoteAddress", value: {} } },
      { actionSpecifier: { case: "genericKey", value: { descriptorValue: "v" } } },
      {
        actionSpecifier: {
          case: "genericKey",
          value: { descriptorKey: "tier", descriptorValue: "gold" },
        },
      },
      {
        actionSpecifier: {
          case: "requestHeaders",
          value: { headerName: "X-User", descriptorKey: "user" },
        },
      },
    ], ctx([["x-user", "ann"]])),
    [
      ["source_cluster", "front"],
      ["destination_cluster", "backend"],
      ["remote_address", "2001:db8::1"],
      ["generic_key", "v"],
      ["tier", "gold"],
      ["user", "ann"],
    ],
  );
});

Deno.test("rate limit policy: a missing header makes no descriptor unless skip_if_absent", () => {
  const header = (skipIfAbsent: boolean) => ({
    actionSpecifier: {
      case: "requestHeaders" as const,
      value: { headerName: "x-user", descriptorKey: "user", skipIfAbsent },
    },
  });
  const key = { actionSpecifier: { case: "genericKey" as const, value: { descriptorValue: "k" } } };
  assertEquals(descriptor([key, header(false)]), undefined);
  assertEquals(descriptor([key, header(true)]), [["generic_key", "k"]]);
  // Nothing left at all: no descriptor.
  assertEquals(descriptor([header(true)]), undefined);
});

Deno.test("rate limit policy: header_value_match adds its value when the match is as expected", () => {
  const match = (expectMatch?: boolean) => ({
    actionSpecifier: {
      case: "headerValueMatch" as const,
      value: {
        descriptorValue: "get",
        expectMatch,
        headers: [{
          name: ":method",
          headerMatchSpecifier: { case: "exactMatch" as const, value: "GET" },
        }],
      },
    },
  });
  const get = ctx([[":method", "GET"]]);
  assertEquals(descriptor([match()], get), [["header_match", "get"]]);
  assertEquals(descriptor([match(false)], get), undefined);
  assertEquals(descriptor([match(false)], ctx([[":method", "POST"]])), [["header_match", "get"]]);
});

Deno.test("rate limit policy: masked_remote_address masks the client's address per family", () => {
  const masked = (remoteAddress: string) =>
    descriptor([{
      actionSpecifier: {
        case: "maskedRemoteAddress",
        value: { v4PrefixMaskLen: 24, v6PrefixMaskLen: 64 },
      },
    }], { ...ctx(), remoteAddress });
  assertEquals(masked("10.1.2.3:80"), [["masked_remote_address", "10.1.2.0/24"]]);
  assertEquals(masked("[2001:db8:1:2:3::4]:80"), [["masked_remote_address", "2001:db8:1:2::/64"]]);
  // Full length without a mask; an address that is not an IP makes no descriptor.
  assertEquals(
    descriptor([{ actionSpecifier: { case: "maskedRemoteAddress", value: {} } }], {
      ...ctx(),
      remoteAddress: "10.1.2.3:80",
    }),
    [["masked_remote_address", "10.1.2.3/32"]],
  );
  assertEquals(masked("/tmp/socket"), undefined);
});

Deno.test("rate limit policy: query_parameter_value_match", () => {
  const match = (expectMatch?: boolean) => ({
    actionSpecifier: {
      case: "queryParameterValueMatch" as const,
      value: {
        descriptorValue: "debug",
        expectMatch,
        queryParameters: [{
          name: "debug",
          queryParameterMatchSpecifier: { case: "presentMatch" as const, value: true },
        }],
      },
    },
  });
  assertEquals(descriptor([match()], ctx([[":path", "/a?debug=1"]])), [["query_match", "debug"]]);
  assertEquals(descriptor([match()], ctx([[":path", "/a?x=1"]])), undefined);
  assertEquals(descriptor([match(false)], ctx([[":path", "/a"]])), [["query_match", "debug"]]);
});

Deno.test("rate limit policy: metadata reads a string from the route's or the stream's metadata", () => {
  const action = (source: number, extra = {}) => ({
    actionSpecifier: {
      case: "metadata" as const,
      value: {
        descriptorKey: "tier",
        metadataKey: { key: "acme", path: [{ segment: { case: "key" as const, value: "tier" } }] },
        source,
        ...extra,
      },
    },
  });
  const c = {
    ...ctx(),
    routeMetadata: { acme: { tier: "gold" } },
    dynamicMetadata: { acme: { tier: 7 } },
  };
  assertEquals(descriptor([action(1)], c), [["tier", "gold"]]);
  // Not a string: the default value, else no descriptor unless skip_if_absent.
  assertEquals(descriptor([action(0)], c), undefined);
  assertEquals(descriptor([action(0, { defaultValue: "free" })], c), [["tier", "free"]]);
  const key = { actionSpecifier: { case: "genericKey" as const, value: { descriptorValue: "k" } } };
  assertEquals(descriptor([key, action(0, { skipIfAbsent: true })], c), [["generic_key", "k"]]);
});
