/**
 * Downstream TLS end to end: main.ts terminates TLS (DownstreamTlsContext) for curl and
 * `openssl s_client`, with certificates made by the test. mTLS refusals are counted in Envoy's
 * `listener.<addr>.ssl.*` stats and never reach the upstream.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import {
  adminStatsWhen,
  curl,
  fileAccessLog,
  Proxy,
  rawExchange,
  staticCluster,
  upstream,
  waitForLines,
} from "./proxy.ts";
import { tempFile } from "./helpers.ts";
import { type TestCerts, testCerts } from "./tls_certs.ts";
import { httpsConfig, indent } from "./tls_config.ts";

const FAST_FLUSH = ["--file-flush-interval-msec", "20"];

/** The shared HTTPS listener config in front of a static cluster `backend` on `upstreamPort`. */
function tlsConfig(opts: {
  tls: string;
  upstreamPort: number;
  hcmExtra?: string;
  chainExtra?: string;
}): string {
  return httpsConfig({ ...opts, clusters: staticCluster("backend", opts.upstreamPort) });
}

function serverTls(c: TestCerts, extra = ""): string {
  return `common_tls_context:
  alpn_protocols: ["http/1.1"]
  tls_certificates:
  - certificate_chain: { filename: ${c.serverChain} }
    private_key: { filename: ${c.serverKey} }
${indent(extra, 2)}`;
}

function mtls(c: TestCerts): string {
  return `${
    serverTls(
      c,
      `validation_context:
  trusted_ca: { filename: ${c.caCert} }
  crl: { filename: ${c.crl} }
  match_typed_subject_alt_names:
  - san_type: URI
    matcher: { exact: "spiffe://cluster.local/ns/default/sa/client" }`,
    )
  }
require_client_certificate: true
`;
}

/** An upstream that echoes what the proxy told it about the client. */
function echoUpstream(seen: Request[]) {
  return upstream((req) => {
    seen.push(req);
    return new Response(
      JSON.stringify({
        xfp: req.headers.get("x-forwarded-proto"),
        xfcc: req.headers.get("x-forwarded-client-cert"),
      }),
    );
  });
}

function https(c: TestCerts, port: number, extra: string[] = []) {
  return curl([
    "--cacert",
    c.caCert,
    "--resolve",
    `example.com:${port}:127.0.0.1`,
    ...extra,
    `https://example.com:${port}/`,
  ]);
}

Deno.test("TLS termination: curl gets the upstream's answer over TLS, x-forwarded-proto is https, handshake stats, access log operators, /certs, TLS 1.2 session resumption", async () => {
  const c = await testCerts();
  const seen: Request[] = [];
  const up = echoUpstream(seen);
  const log = tempFile("", ".log");
  const proxy = await Proxy.start(
    tlsConfig({
      tls: serverTls(c),
      upstreamPort: up.port,
      hcmExtra: fileAccessLog(
        log,
        "%DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_TLS_CIPHER% %REQUESTED_SERVER_NAME% %DOWNSTREAM_LOCAL_SUBJECT% %DOWNSTREAM_PEER_SUBJECT%",
      ),
    }),
    FAST_FLUSH,
  );
  try {
    const port = proxy.port("https");
    const r = await https(c, port, ["--tlsv1.3"]);
    assertEquals(r.code, 0, r.err);
    assertEquals(JSON.parse(r.out).xfp, "https");
    const r12 = await https(c, port, ["--tlsv1.2", "--tls-max", "1.2"]);
    assertEquals(r12.code, 0, r12.err);
    const prefix = `listener.127.0.0.1_${port}.ssl`;
    const s = await adminStatsWhen(proxy.adminPort, (s) => s[`${prefix}.handshake`] === 2);
    assertEquals(s[`${prefix}.versions.TLSv1.3`], 1);
    assertEquals(s[`${prefix}.versions.TLSv1.2`], 1);
    assertEquals(s[`${prefix}.no_certificate`], 2);
    assertEquals(s["http.test.downstream_cx_ssl_total"], 2);
    assert(Object.keys(s).some((k) => k.startsWith(`${prefix}.ciphers.`)));
    // /certs lists the listener's certificate; the gauge counts the days to its expiry.
    const certs = JSON.parse((await curl([`http://127.0.0.1:${proxy.adminPort}/certs`])).out);
    const leaf = certs.certificates[0].cert_chain[0];
    assertEquals(leaf.path, c.serverChain);
    assertEquals(leaf.days_until_expiration, "29");
    assertEquals(leaf.subject_alt_names[0], { dns: "example.com" });
    assertEquals(certs.certificates[0].ca_cert, []);
    assertEquals(s["server.days_until_first_cert_expiring"], 29);
    const lines = await waitForLines(log, 2);
    assertMatch(lines[0], /^TLSv1\.3 TLS_AES_\S+ example\.com O=denvoy,CN=example\.com -$/);
    assertMatch(lines[1], /^TLSv1\.2 ECDHE-RSA-\S+ example\.com /);
    // TLS 1.2 session resumption (session ids), counted in ssl.session_reused.
    const sessFile = tempFile("", ".pem");
    const sClient = async (args: string[]) =>
      new TextDecoder().decode(
        (await new Deno.Command("openssl", {
          args: ["s_client", "-connect", `127.0.0.1:${port}`, "-tls1_2", ...args],
          stdin: "null",
          stdout: "piped",
          stderr: "null",
        }).output()).stdout,
      );
    assertMatch(await sClient(["-sess_out", sessFile]), /^New, TLSv1\.2/m);
    assertMatch(await sClient(["-sess_in", sessFile]), /^Reused, TLSv1\.2/m);
    await adminStatsWhen(proxy.adminPort, (s) => s[`${prefix}.session_reused`] === 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("TLS termination with ALPN h2: curl --http2 over https is served by the HTTP/2 codec (codec_type AUTO)", async () => {
  const c = await testCerts();
  const seen: Request[] = [];
  const up = echoUpstream(seen);
  const log = tempFile("", ".log");
  const proxy = await Proxy.start(
    tlsConfig({
      tls: serverTls(c).replace(
        'alpn_protocols: ["http/1.1"]',
        'alpn_protocols: ["h2", "http/1.1"]',
      ),
      upstreamPort: up.port,
      hcmExtra: fileAccessLog(log, "%PROTOCOL% %DOWNSTREAM_TLS_VERSION%"),
    }),
    FAST_FLUSH,
  );
  try {
    const port = proxy.port("https");
    const h2 = await https(c, port, ["--http2", "-w", "%{http_version}"]);
    assertEquals(h2.code, 0, h2.err);
    assert(h2.out.endsWith("2"), h2.out);
    assertEquals(JSON.parse(h2.out.slice(0, -1)).xfp, "https");
    const h1 = await https(c, port, ["--http1.1", "-w", "%{http_version}"]);
    assertEquals(h1.code, 0, h1.err);
    assert(h1.out.endsWith("1.1"), h1.out);
    const lines = await waitForLines(log, 2);
    assertEquals(lines.sort(), ["HTTP/1.1 TLSv1.3", "HTTP/2 TLSv1.3"]);
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["http.test.downstream_rq_http2_total"] === 1,
    );
    assertEquals(s["http.test.downstream_cx_http2_total"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("TLS termination: tls_params pin the version (TLS 1.3 only refuses a TLS 1.2 client), ALPN is negotiated, SNI chooses the certificate, require_sni refuses a client without SNI", async () => {
  const c = await testCerts();
  const up = echoUpstream([]);
  const proxy = await Proxy.start(tlsConfig({
    tls: `common_tls_context:
  alpn_protocols: ["x-denvoy-test", "http/1.1"]
  tls_params: { tls_minimum_protocol_version: TLSv1_3 }
  tls_certificates:
  - certificate_chain: { filename: ${c.serverChain} }
    private_key: { filename: ${c.serverKey} }
  - certificate_chain: { filename: ${c.ecdsaCert} }
    private_key: { filename: ${c.ecdsaKey} }
require_sni: true
`,
    upstreamPort: up.port,
  }));
  try {
    const port = proxy.port("https");
    const sClient = async (args: string[]) => {
      const out = await new Deno.Command("openssl", {
        args: ["s_client", "-connect", `127.0.0.1:${port}`, ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout);
    };
    const tls12 = await sClient(["-tls1_2", "-servername", "example.com"]);
    assertMatch(tls12, /Cipher is \(NONE\)/);
    // The server's preference order wins among what the client offers.
    const alpn = await sClient([
      "-tls1_3",
      "-servername",
      "example.com",
      "-alpn",
      "http/1.1,x-denvoy-test",
    ]);
    assertMatch(alpn, /ALPN protocol: x-denvoy-test/);
    assertMatch(alpn, /subject=CN = example.com/);
    const ecdsa = await sClient(["-tls1_3", "-servername", "ecdsa.example.com"]);
    assertMatch(ecdsa, /subject=CN = ecdsa.example.com/);
    assertMatch(ecdsa, /Peer signature type: ECDSA/);
    // require_sni: curl sends no SNI to an IP address.
    const noSni = await curl(["-k", `https://127.0.0.1:${port}/`]);
    assert(noSni.code !== 0);
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s[`listener.127.0.0.1_${port}.ssl.connection_error`] >= 2,
    );
    assertEquals(s[`listener.127.0.0.1_${port}.ssl.handshake`], 2);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("mTLS: a client certificate of the trusted CA with the right SAN gets through (x-forwarded-client-cert SANITIZE_SET); no certificate, another CA, expired, revoked (crl) and a wrong SAN are refused, counted, and never reach the upstream", async () => {
  const c = await testCerts();
  const seen: Request[] = [];
  const up = echoUpstream(seen);
  const proxy = await Proxy.start(tlsConfig({
    tls: mtls(c),
    upstreamPort: up.port,
    hcmExtra: `forward_client_cert_details: SANITIZE_SET
set_current_client_cert_details: { subject: true, uri: true }`,
  }));
  try {
    const port = proxy.port("https");
    const ok = await https(c, port, [
      "--cert",
      c.clientCert,
      "--key",
      c.clientKey,
      "-H",
      "x-forwarded-client-cert: By=forged",
    ]);
    assertEquals(ok.code, 0, ok.err);
    assertEquals(seen.length, 1);
    const hash = new TextDecoder().decode(
      (await new Deno.Command("openssl", {
        args: ["x509", "-in", c.clientCert, "-noout", "-fingerprint", "-sha256"],
        stdout: "piped",
      }).output()).stdout,
    ).trim().split("=")[1].replaceAll(":", "").toLowerCase();
    assertEquals(
      JSON.parse(ok.out).xfcc,
      `Hash=${hash};Subject="O=denvoy,CN=client";URI=spiffe://cluster.local/ns/default/sa/client`,
    );
    const refused = [
      [],
      ["--cert", c.otherCaClientCert, "--key", c.otherCaClientKey],
      ["--cert", c.expiredCert, "--key", c.expiredKey],
      ["--cert", c.wrongSanCert, "--key", c.wrongSanKey],
      ["--cert", c.revokedCert, "--key", c.revokedKey],
    ];
    for (const args of refused) {
      const r = await https(c, port, args);
      assert(r.code !== 0, `refused client got an answer: ${r.out}`);
    }
    const p = `listener.127.0.0.1_${port}.ssl`;
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s[`${p}.fail_verify_san`] === 1 && s[`${p}.fail_verify_error`] === 3,
    );
    assertEquals(s[`${p}.fail_verify_no_cert`], 1);
    assertEquals(s[`${p}.handshake`], 1);
    assertEquals(seen.length, 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("TLS bad input: plaintext HTTP, a garbage ClientHello, a client that closes at once and a stalled handshake (transport_socket_connect_timeout) are closed and counted; the proxy keeps serving", async () => {
  const c = await testCerts();
  const up = echoUpstream([]);
  const proxy = await Proxy.start(tlsConfig({
    tls: serverTls(c),
    upstreamPort: up.port,
    chainExtra: "transport_socket_connect_timeout: 0.3s",
  }));
  try {
    const port = proxy.port("https");
    const plain = await rawExchange(port, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert(!plain.includes("HTTP/1.1"), plain);
    const garbage = await rawExchange(port, new Uint8Array(20_000).fill(0x16));
    assertEquals(garbage.includes("HTTP/1.1"), false);
    // A client that connects and closes without a byte (a TCP health check) is closed with it.
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    // A client that connects and says nothing.
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
    const buf = new Uint8Array(16);
    const n = await stalled.read(buf).catch(() => null);
    assertEquals(n, null);
    stalled.close();
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) =>
        s[`listener.127.0.0.1_${port}.downstream_cx_transport_socket_connect_timeout`] === 1 &&
        s[`listener.127.0.0.1_${port}.ssl.connection_error`] === 2 &&
        s[`listener.127.0.0.1_${port}.downstream_cx_total`] === 4 &&
        s[`listener.127.0.0.1_${port}.downstream_cx_active`] === 0,
    );
    assertEquals(s[`listener.127.0.0.1_${port}.ssl.handshake`], 0);
    const ok = await https(c, port);
    assertEquals(ok.code, 0, ok.err);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("proxy_protocol + tls_inspector + server_names: the ClientHello the listener filters read (after a PROXY header, or without one) is replayed into the chosen chain's TLS handshake", async () => {
  const c = await testCerts();
  const up = echoUpstream([]);
  const chain = (name: string, cert: string, key: string) => `
    - filter_chain_match: { server_names: ["${name}"] }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: { filename: ${cert} }
              private_key: { filename: ${key} }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name.replaceAll(".", "_")}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;
  const proxy = await Proxy.start(`admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: https
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.proxy_protocol
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol
        allow_requests_without_proxy_protocol: true
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
    filter_chains:${chain("example.com", c.serverChain, c.serverKey)}${
    chain("ecdsa.example.com", c.ecdsaCert, c.ecdsaKey)
  }
  clusters:
${indent(staticCluster("backend", up.port), 2)}
`);
  try {
    const port = proxy.port("https");
    const r = await https(c, port);
    assertEquals(JSON.parse(r.out).xfp, "https", r.err);
    const out = new TextDecoder().decode(
      (await new Deno.Command("openssl", {
        args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "ecdsa.example.com"],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output()).stdout,
    );
    assertMatch(out, /subject=CN = ecdsa\.example\.com/);
    // A PROXY v1 header, then the TLS handshake on the same connection.
    const pp = await https(c, port, ["--haproxy-protocol"]);
    assertEquals(JSON.parse(pp.out).xfp, "https", pp.err);
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s[`listener.127.0.0.1_${port}.ssl.handshake`] === 3,
    );
    assertEquals(s["http.example_com.downstream_rq_2xx"], 2);
    assertEquals(s["proxy_proto.versions.v1.found"], 1);
  } finally {
    await proxy.stop();
    await up.close();
  }
});
