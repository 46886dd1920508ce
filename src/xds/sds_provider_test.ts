import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../testing/assert.ts";
import { ConfigSourceSchema } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { TransportSocketSchema } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import {
  DownstreamTlsContextSchema,
  UpstreamTlsContextSchema,
} from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import { sdsRefs } from "./sds_provider.ts";

const ads = create(ConfigSourceSchema, { configSourceSpecifier: { case: "ads", value: {} } });
const file = create(ConfigSourceSchema, {
  configSourceSpecifier: { case: "path", value: "/etc/sds.yaml" },
});

Deno.test("sdsRefs: the secrets TLS contexts take over xDS (certificates, validation, combined), not static or file ones", () => {
  const down = create(TransportSocketSchema, {
    name: "tls",
    configType: {
      case: "typedConfig",
      value: anyPack(
        DownstreamTlsContextSchema,
        create(DownstreamTlsContextSchema, {
          commonTlsContext: {
            tlsCertificateSdsSecretConfigs: [
              { name: "cert", sdsConfig: ads },
              { name: "static_cert" },
              { name: "file_cert", sdsConfig: file },
            ],
            validationContextType: {
              case: "validationContextSdsSecretConfig",
              value: { name: "ca", sdsConfig: ads },
            },
          },
        }),
      ),
    },
  });
  const up = create(TransportSocketSchema, {
    name: "tls",
    configType: {
      case: "typedConfig",
      value: anyPack(
        UpstreamTlsContextSchema,
        create(UpstreamTlsContextSchema, {
          commonTlsContext: {
            validationContextType: {
              case: "combinedValidationContext",
              value: { validationContextSdsSecretConfig: { name: "up_ca", sdsConfig: ads } },
            },
          },
        }),
      ),
    },
  });
  assertEquals(sdsRefs([down, undefined, up]).map((r) => r.name), ["cert", "ca", "up_ca"]);
});
