import { fromJson } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { ExtensionConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { applyEcdsConfigs, ecdsKey, watchEcdsConfig } from "./ecds_config.ts";

const P = "type.googleapis.com/";
const ROUTER = P + "envoy.extensions.filters.http.router.v3.Router";
const BUFFER = P + "envoy.extensions.filters.http.buffer.v3.Buffer";

const source = (json: Record<string, unknown>) =>
  fromJson(messageSchema<ExtensionConfigSource>("envoy.config.core.v3.ExtensionConfigSource"), {
    config_source: { ads: {} },
    type_urls: [ROUTER, BUFFER],
    ...json,
  }, { registry: apiRegistry() });

Deno.test("ECDS config removed (delta, or its TTL passed): the default config serves, else none", () => {
  const bare = source({});
  const withDefault = source({ default_config: { "@type": ROUTER } });
  const a = watchEcdsConfig("http_filter", "a", bare, (c: Any) => c.typeUrl, "missing");
  const b = watchEcdsConfig("http_filter", "b", withDefault, (c: Any) => c.typeUrl, "missing");
  assertEquals([a.current, b.current], ["missing", ROUTER]);
  const buffer = { typeUrl: BUFFER, value: new Uint8Array() } as Any;
  applyEcdsConfigs([
    { key: ecdsKey("http_filter", "a", bare), config: buffer },
    { key: ecdsKey("http_filter", "b", withDefault), config: buffer },
  ]);
  assertEquals([a.current, b.current], [BUFFER, BUFFER]);
  applyEcdsConfigs([
    { key: ecdsKey("http_filter", "a", bare) },
    { key: ecdsKey("http_filter", "b", withDefault) },
  ]);
  assertEquals([a.current, b.current], ["missing", ROUTER]);
});
