import { assert, assertEquals, assertMatch } from "../../../testing/assert.ts";
import { builtinExtensions } from "../../builtin.ts";
import { loadBootstrap } from "../../../config/bootstrap.ts";
import { formatIssue } from "../../../config/errors.ts";
import { testCerts } from "../../../../tests/tls_certs.ts";
import { parseSans, RUSTLS_TLS12_CIPHERS } from "./context_config.ts";

// What Deno's TLS (rustls) cannot do is refused at validate, with its place in the file.

const reg = builtinExtensions();
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3." +
  "HttpConnectionManager";

function issues(yaml: string): string[] {
  return loadBootstrap({ configYaml: yaml }, reg).issues.map((i) =>
    formatIssue(i).replace("--config-yaml:", "")
  );
}

/** A listener whose filter chain has DownstreamTlsContext `tls` (YAML at 10 spaces). */
async function downstream(tls: string): Promise<string> {
  const c = await testCerts();
  return `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: { filename: ${c.serverChain} }
              private_key: { filename: ${c.serverKey} }
${tls}
      filters:
      - name: hcm
        typed_config:
          "@type": ${HCM}
          stat_prefix: x
          route_config: {}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`;
}

Deno.test("TLS config: a plain server context with Envoy's default cipher list and curves is accepted", async () => {
  const yaml = await downstream(`            tls_params:
              tls_minimum_protocol_version: TLSv1_2
              tls_maximum_protocol_version: TLSv1_3
              cipher_suites:
              - "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"
              - "[ECDHE-RSA-AES128-GCM-SHA256|ECDHE-RSA-CHACHA20-POLY1305]"
              - ECDHE-ECDSA-AES256-GCM-SHA384
              - ECDHE-RSA-AES256-GCM-SHA384
              ecdh_curves: [X25519, P-256, P-384]
            alpn_protocols: [http/1.1]`);
  assertEquals(issues(yaml), []);
  assertEquals(RUSTLS_TLS12_CIPHERS.length, 6);
});

Deno.test("TLS config: TLS 1.0/1.1, a cipher rustls lacks, a cipher list it cannot restrict to, unknown curves are refused with file:line:col", async () => {
  const cases: [string, RegExp][] = [
    [
      "            tls_params: { tls_minimum_protocol_version: TLSv1_0 }",
      /^\d+:\d+: .*tls_params\.tls_minimum_protocol_version: .*TLS TLSv1_0 \(Deno's TLS is rustls/,
    ],
    [
      "            tls_params: { cipher_suites: [AES128-SHA, ECDHE-RSA-AES128-GCM-SHA256] }",
      /tls_params\.cipher_suites: .*cipher suite AES128-SHA/,
    ],
    [
      "            tls_params: { cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256] }",
      /tls_params\.cipher_suites: .*a cipher suite list without ECDHE-ECDSA-AES128-GCM-SHA256/,
    ],
    ["            tls_params: { ecdh_curves: [P-521] }", /ecdh_curves: .*ECDH curve P-521/],
    [
      "            tls_params: { signature_algorithms: [rsa_pss_rsae_sha256] }",
      /signature_algorithms/,
    ],
  ];
  for (const [tls, re] of cases) {
    const found = issues(await downstream(tls));
    assertEquals(found.length, 1, `${tls}: ${found.join("\n")}`);
    assertMatch(found[0], re);
  }
});

Deno.test("TLS config: OTHER_NAME SAN matching, a CRL file without CRLs or without trusted_ca, session ticket keys, OCSP stapling policies, SAN matching without a CA are refused", async () => {
  const c = await testCerts();
  const cases: [string, RegExp][] = [
    [
      `            validation_context:
              trusted_ca: { filename: ${c.caCert} }
              match_typed_subject_alt_names:
              - { san_type: OTHER_NAME, oid: "1.2.3", matcher: { exact: x } }`,
      /match_typed_subject_alt_names\[0\]\.san_type: .*OTHER_NAME/,
    ],
    [
      `            validation_context:
              trusted_ca: { filename: ${c.caCert} }
              crl: { filename: ${c.caCert} }`,
      /validation_context\.crl: no PEM X509 CRL found/,
    ],
    [
      `            validation_context:
              crl: { filename: ${c.crl} }`,
      /validation_context\.crl: Failed to load CRL from .* without trusted_ca/,
    ],
    [
      `            validation_context:
              match_typed_subject_alt_names:
              - { san_type: DNS, matcher: { exact: x } }`,
      /SAN-based verification of peer certificates without trusted CA is insecure and not allowed/,
    ],
    [
      `            validation_context:
              verify_certificate_hash: [nothex]`,
      /verify_certificate_hash\[0\]: invalid hex-encoded SHA-256 nothex/,
    ],
    [
      `          session_ticket_keys: { keys: [{ inline_string: "${"a".repeat(80)}" }] }`,
      /session_ticket_keys: .*session ticket keys/,
    ],
    ["          ocsp_staple_policy: MUST_STAPLE", /ocsp_staple_policy: .*MUST_STAPLE/],
    ["          session_timeout: 60s", /session_timeout/],
    [
      "          require_client_certificate: true",
      /require_client_certificate needs a validation context/,
    ],
  ];
  for (const [tls, re] of cases) {
    const found = issues(await downstream(tls));
    assert(found.some((f) => re.test(f)), `${tls}:\n${found.join("\n")}`);
  }
});

Deno.test("TLS config: a key that does not match its certificate, or a missing file, is a config error", async () => {
  const c = await testCerts();
  const yaml = (await downstream("")).replace(c.serverKey, c.clientKey);
  assertMatch(
    issues(yaml).join("\n"),
    /private_key: the private key does not match the certificate/,
  );
  const missing = (await downstream("")).replace(c.serverChain, "/nonexistent.pem");
  assertMatch(issues(missing).join("\n"), /certificate_chain\.filename.*nonexistent/);
});

Deno.test("TLS config: an UpstreamTlsContext refuses allow_renegotiation, and a DownstreamTlsContext on a cluster is refused", () => {
  const yaml = (ctx: string, body: string) =>
    `static_resources:
  clusters:
  - name: c
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.${ctx}
${body}
    load_assignment:
      cluster_name: c
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
`;
  assertMatch(
    issues(yaml("UpstreamTlsContext", "        allow_renegotiation: true")).join("\n"),
    /allow_renegotiation: .*renegotiation/,
  );
  assertMatch(
    issues(yaml("DownstreamTlsContext", "        require_sni: false")).join("\n"),
    /a cluster takes an UpstreamTlsContext/,
  );
});

Deno.test("parseSans: node's subjectaltname text by kind, quoted values unquoted", () => {
  assertEquals(
    parseSans(
      'DNS:a.example, DNS:*.b.example, IP Address:127.0.0.1, IP Address:FE80::1, URI:spiffe://x/y, email:a@b.example, URI:"http://q/a, b"',
    ),
    {
      dns: ["a.example", "*.b.example"],
      ip: ["127.0.0.1", "fe80::1"],
      uri: ["spiffe://x/y", "http://q/a, b"],
      email: ["a@b.example"],
    },
  );
});

Deno.test("TLS config: an UpstreamTlsContext on a filter chain is refused at validate", async () => {
  const yaml = (await downstream("")).replace(
    "tls.v3.DownstreamTlsContext",
    "tls.v3.UpstreamTlsContext",
  );
  assertMatch(
    issues(yaml).join("\n"),
    /transport_socket: the TLS transport socket of a filter chain takes a DownstreamTlsContext/,
  );
});
