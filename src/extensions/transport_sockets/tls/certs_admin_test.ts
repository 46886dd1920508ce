import { assertEquals } from "../../../testing/assert.ts";
import { builtinExtensions } from "../../builtin.ts";
import { loadBootstrap } from "../../../config/bootstrap.ts";
import { testCerts } from "../../../../tests/tls_certs.ts";
import { listCertificates } from "./certs_admin.ts";

Deno.test("listCertificates: each TLS context's CAs and leaf certificates with Envoy's details; the days until the first expires", async () => {
  const c = await testCerts();
  const reg = builtinExtensions();
  const { bootstrap } = loadBootstrap({
    configYaml: `static_resources:
  clusters:
  - name: c
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        common_tls_context:
          tls_certificates:
          - certificate_chain: { filename: ${c.clientCert} }
            private_key: { filename: ${c.clientKey} }
          validation_context:
            trusted_ca: { filename: ${c.caCert} }
    load_assignment:
      cluster_name: c
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
`,
  }, reg);
  const now = Date.now();
  const list = listCertificates(bootstrap!, reg, now);
  assertEquals(list.certificates.length, 1);
  const [ca] = list.certificates[0].ca_cert as Record<string, unknown>[];
  const [leaf] = list.certificates[0].cert_chain as Record<string, unknown>[];
  assertEquals(ca.path, c.caCert);
  assertEquals(leaf.path, c.clientCert);
  assertEquals(leaf.subject_alt_names, [{ uri: "spiffe://cluster.local/ns/default/sa/client" }]);
  assertEquals(leaf.days_until_expiration, "29");
  assertEquals(list.daysUntilFirstExpiring, 29);
  // 40 days on, both have expired: 0 days, as Envoy says.
  assertEquals(listCertificates(bootstrap!, reg, now + 40 * 86_400_000).daysUntilFirstExpiring, 0);
});
