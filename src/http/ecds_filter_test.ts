import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { ExtensionConfigSourceSchema } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { GrpcWebSchema } from "../../proto/gen/envoy/extensions/filters/http/grpc_web/v3/grpc_web_pb.ts";
import type { ServerContext } from "../config/extensions.ts";
import type { StreamFilterCallbacks } from "./filter.ts";
import { ecdsFilterProblems, ecdsHttpFilter } from "./ecds_filter.ts";

const reg = builtinExtensions();
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const ads = { configSourceSpecifier: { case: "ads" as const, value: {} } };

Deno.test("ecdsFilterProblems: Envoy's checks of config_discovery", () => {
  const problems = (json: Parameters<typeof create<typeof ExtensionConfigSourceSchema>>[1]) =>
    ecdsFilterProblems("f", create(ExtensionConfigSourceSchema, json), reg).map((p) =>
      `${p.field}: ${p.message}`
    );
  assertEquals(problems({ configSource: ads, typeUrls: [ROUTER] }), []);
  assertEquals(problems({ configSource: ads }), [
    "type_urls: type_urls needs at least one type URL",
  ]);
  assertMatch(
    problems({ configSource: ads, typeUrls: ["type.googleapis.com/x.Y"] })[0],
    /^type_urls\[0\]: Didn't find a registered implementation for type: 'type.googleapis.com\/x.Y'/,
  );
  assertEquals(
    problems({
      configSource: ads,
      typeUrls: [ROUTER],
      defaultConfig: anyPack(GrpcWebSchema, create(GrpcWebSchema)),
    }),
    [
      "default_config: Error: filter config has type URL envoy.extensions.filters.http.grpc_web.v3.GrpcWeb " +
      "but expect envoy.extensions.filters.http.router.v3.Router.",
    ],
  );
  assertEquals(
    problems({ configSource: ads, typeUrls: [ROUTER], applyDefaultConfigWithoutWarming: true }),
    [
      "apply_default_config_without_warming: Error: filter config f applied without warming " +
      "but has no default config.",
    ],
  );
  assertEquals(problems({ typeUrls: [ROUTER] }), ["config_source: config_source is required"]);
});

Deno.test("ecdsHttpFilter: without a config or default, a stream gets Envoy's missing-config reply (500, NFCF)", () => {
  const cb = ecdsHttpFilter(
    "nothing_yet",
    create(ExtensionConfigSourceSchema, { configSource: ads, typeUrls: [ROUTER] }),
    { extensions: reg } as unknown as ServerContext,
    "http.test",
  );
  const flags: string[] = [];
  const replies: number[] = [];
  const filter = cb({
    streamInfo: { setFlag: (f: string) => flags.push(f) },
    sendLocalReply: (status: number) => replies.push(status),
  } as unknown as StreamFilterCallbacks);
  assertEquals(filter.decoder?.decodeHeaders(undefined as never, true), "stop");
  assertEquals(flags, ["NFCF"]);
  assertEquals(replies, [500]);
});
