import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../testing/assert.ts";
import { InternalRedirectPolicySchema } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { AllowListedRoutesConfigSchema } from "../../proto/gen/envoy/extensions/internal_redirect/allow_listed_routes/v3/allow_listed_routes_config_pb.ts";
import { PreviousRoutesConfigSchema } from "../../proto/gen/envoy/extensions/internal_redirect/previous_routes/v3/previous_routes_config_pb.ts";
import { SafeCrossSchemeConfigSchema } from "../../proto/gen/envoy/extensions/internal_redirect/safe_cross_scheme/v3/safe_cross_scheme_config_pb.ts";
import { HeaderMap } from "../http/header_map.ts";
import {
  compileInternalRedirectPolicy,
  copyResponseHeaders,
  type InternalRedirectState,
  parseRedirectLocation,
} from "./internal_redirect.ts";

const policy = (init: Parameters<typeof create<typeof InternalRedirectPolicySchema>>[1]) =>
  create(InternalRedirectPolicySchema, init);
const state = (): InternalRedirectState => ({ count: 0, previousRoutes: new Map() });

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

Deno.test("internal redirect policy defaults: 302 only, one redirect, same scheme", () => {
  const p = compileInternalRedirectPolicy(policy({}), "f");
  assertEquals([...p.redirectResponseCodes], [302]);
  assertEquals(p.maxInternalRedirects, 1);
  assertEquals(p.allowCrossSchemeRedirect, false);
});

Deno.test("redirect_response_codes keeps only 301, 302, 303, 307, 308", () => {
  const p = compileInternalRedirectPolicy(
    policy({ redirectResponseCodes: [301, 200, 308, 304] }),
    "f",
  );
  assertEquals([...p.redirectResponseCodes], [301, 308]);
  // Only invalid codes: nothing is followed (not the 302 default).
  const none = compileInternalRedirectPolicy(policy({ redirectResponseCodes: [200] }), "f");
  assertEquals(none.redirectResponseCodes.size, 0);
});

Deno.test("response_headers_to_copy refuses pseudo-headers and host; names are lower-cased", () => {
  const p = compileInternalRedirectPolicy(policy({ responseHeadersToCopy: ["X-Token"] }), "f");
  assertEquals(p.responseHeadersToCopy, ["x-token"]);
  for (const bad of [":path", "Host"]) {
    assertEquals(
      error(() => compileInternalRedirectPolicy(policy({ responseHeadersToCopy: [bad] }), "f")),
      "f.response_headers_to_copy[0]: :-prefixed headers or Hosts may not be specified here.",
    );
  }
});

Deno.test("predicates: the three Envoy ships work, any other is refused", () => {
  const p = compileInternalRedirectPolicy(
    policy({
      predicates: [
        {
          name: "prev",
          typedConfig: anyPack(PreviousRoutesConfigSchema, create(PreviousRoutesConfigSchema)),
        },
        {
          name: "allow",
          typedConfig: anyPack(
            AllowListedRoutesConfigSchema,
            create(AllowListedRoutesConfigSchema, { allowedRouteNames: ["b", "c"] }),
          ),
        },
        {
          name: "safe",
          typedConfig: anyPack(SafeCrossSchemeConfigSchema, create(SafeCrossSchemeConfigSchema)),
        },
      ],
    }),
    "f",
    "a",
  );
  const [prev, allow, safe] = p.predicates;
  const s = state();
  assertEquals([prev.accept(s, "b", false, false), prev.accept(s, "b", false, false)], [
    true,
    false,
  ]);
  assertEquals([allow.accept(s, "b", false, false), allow.accept(s, "z", false, false)], [
    true,
    false,
  ]);
  assertEquals(
    [
      safe.accept(s, "", true, false),
      safe.accept(s, "", false, true),
      safe.accept(s, "", true, true),
    ],
    [false, true, true],
  );
  assertEquals(
    error(() =>
      compileInternalRedirectPolicy(
        policy({ predicates: [{ name: "custom", typedConfig: undefined }] }),
        "f",
      )
    ),
    "f.predicates[0]: internal redirect predicate 'custom' is not supported",
  );
});

Deno.test("parseRedirectLocation splits absolute URLs and refuses the rest", () => {
  assertEquals(parseRedirectLocation("HTTP://User@Host.example:8080/a/b?q=1#frag"), {
    scheme: "http",
    authority: "Host.example:8080",
    pathAndQuery: "/a/b?q=1",
  });
  assertEquals(parseRedirectLocation("https://h")?.pathAndQuery, "/");
  assertEquals(parseRedirectLocation("https://h?x=1")?.pathAndQuery, "/?x=1");
  for (const bad of ["/relative", "h/x", "http://", "http:///x", "http://h/a b", "http://h/\x01"]) {
    assertEquals(parseRedirectLocation(bad), undefined, bad);
  }
});

Deno.test("copyResponseHeaders replaces present headers and removes absent ones", () => {
  const request = HeaderMap.from([["x-a", "old"], ["x-b", "old"], ["x-c", "keep"]]);
  const response = HeaderMap.from([["x-a", "1"], ["x-a", "2"]]);
  copyResponseHeaders(["x-a", "x-b"], response, request);
  assertEquals(request.entries(), [["x-c", "keep"], ["x-a", "1"], ["x-a", "2"]]);
});
