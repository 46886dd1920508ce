import { assertEquals } from "../testing/assert.ts";

/** The message `fn` throws. */
function thrown(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}
import { create } from "@bufbuild/protobuf";
import { RouteAction_RequestMirrorPolicySchema } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { mirrorPolicies, shadowHost, validateMirrorPolicies } from "./shadow_writer.ts";

Deno.test("shadowHost puts -shadow before the port, never inside an IPv6 literal", () => {
  assertEquals(shadowHost("a.com"), "a.com-shadow");
  assertEquals(shadowHost("a.com:8080"), "a.com-shadow:8080");
  assertEquals(shadowHost("[::1]"), "[::1]-shadow");
  assertEquals(shadowHost("[::1]:443"), "[::1]-shadow:443");
  assertEquals(shadowHost("a.com:"), "a.com-shadow:");
});

Deno.test("mirror policies: exactly one of cluster and cluster_header, known clusters", () => {
  const p = (o: object) => [create(RouteAction_RequestMirrorPolicySchema, o)];
  assertEquals(
    thrown(() => validateMirrorPolicies(p({ cluster: "a", clusterHeader: "x" }), "r", undefined))
      .startsWith("r.request_mirror_policies[0]: Only one of cluster 'a' or cluster_header 'x'"),
    true,
  );
  assertEquals(
    thrown(() => validateMirrorPolicies(p({}), "", undefined)).startsWith(
      "request_mirror_policies[0]: Exactly one of cluster or cluster_header",
    ),
    true,
  );
  assertEquals(
    thrown(() => validateMirrorPolicies(p({ cluster: "nope" }), "r", () => false)).startsWith(
      "r.request_mirror_policies[0].cluster: unknown shadow cluster 'nope'",
    ),
    true,
  );
  validateMirrorPolicies(p({ clusterHeader: "X-M" }), "r", () => false);
});

Deno.test("mirror policies compile: 100% without runtime_fraction, header names lower case", () => {
  const list = [
    create(RouteAction_RequestMirrorPolicySchema, { clusterHeader: "X-M" }),
    create(RouteAction_RequestMirrorPolicySchema, {
      cluster: "s",
      runtimeFraction: { runtimeKey: "k", defaultValue: { numerator: 5, denominator: 1 } },
    }),
  ];
  const c = mirrorPolicies(list);
  assertEquals(c[0].clusterHeader, "x-m");
  assertEquals(c[0].defaultValue, { numerator: 100, denominator: 100 });
  assertEquals(c[1].runtimeKey, "k");
  assertEquals(c[1].defaultValue, { numerator: 5, denominator: 10_000 });
  assertEquals(mirrorPolicies(list), c);
});
