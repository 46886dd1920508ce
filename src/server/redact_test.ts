import { assertEquals } from "../testing/assert.ts";
import { fromJson, type JsonObject, toJson } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { redacted } from "./redact.ts";

const TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

Deno.test("sensitive fields are redacted as Envoy does, inside typed configs too", () => {
  const schema = messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");
  const registry = apiRegistry();
  const input: JsonObject = {
    static_resources: {
      secrets: [
        { name: "hmac", generic_secret: { secret: { inline_bytes: "c2VjcmV0" } } },
        {
          name: "cert",
          tls_certificate: {
            certificate_chain: { inline_string: "CERT" },
            private_key: { filename: "/etc/key.pem" },
            password: { inline_string: "pw" },
          },
        },
      ],
      listeners: [{
        name: "l",
        filter_chains: [{
          transport_socket: {
            name: "envoy.transport_sockets.tls",
            typed_config: {
              "@type": TLS,
              common_tls_context: {
                tls_certificates: [{
                  certificate_chain: { inline_string: "CERT" },
                  private_key: { inline_string: "KEY" },
                }],
              },
            },
          },
        }],
      }],
    },
  };
  const b = fromJson(schema, input, { registry });
  const out = toJson(schema, redacted(schema, b), { registry, useProtoFieldName: true }) as {
    static_resources: { secrets: JsonObject[]; listeners: JsonObject[] };
  };
  const [hmac, cert] = out.static_resources.secrets;
  // Bytes become the bytes of "[redacted]" (base64 in JSON), as Envoy prints them.
  assertEquals(hmac.generic_secret, { secret: { inline_bytes: "W3JlZGFjdGVkXQ==" } });
  assertEquals(cert.tls_certificate, {
    certificate_chain: { inline_string: "CERT" },
    private_key: { filename: "[redacted]" },
    password: { inline_string: "[redacted]" },
  });
  const ts = ((out.static_resources.listeners[0].filter_chains as JsonObject[])[0]
    .transport_socket as JsonObject).typed_config as JsonObject;
  assertEquals(ts.common_tls_context, {
    tls_certificates: [{
      certificate_chain: { inline_string: "CERT" },
      private_key: { inline_string: "[redacted]" },
    }],
  });
  // The original is untouched.
  const again = toJson(schema, b, { registry, useProtoFieldName: true }) as typeof out;
  assertEquals(again.static_resources.secrets[0].generic_secret, {
    secret: { inline_bytes: "c2VjcmV0" },
  });
});
