/**
 * tls_inspector's `enable_ja4_fingerprinting`: the JA4 fingerprint of each client's ClientHello
 * reaches `%TLS_JA4_FINGERPRINT%` on a listener that terminates TLS, for real clients (curl over
 * HTTP/1.1 and HTTP/2, openssl s_client with TLS 1.2 and no SNI); a listener without it logs `-`.
 */
import { assertEquals, assertMatch } from "../src/testing/assert.ts";
import { curl, Proxy, waitForLines } from "./proxy.ts";
import { type TestCerts, testCerts } from "./tls_certs.ts";

/** A TLS listener with tls_inspector (`ja4` on or off) logging its fingerprint to `log`. */
function listener(name: string, c: TestCerts, ja4: boolean, log: string): string {
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
        enable_ja4_fingerprinting: ${ja4}
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: ["h2", "http/1.1"]
            tls_certificates:
            - certificate_chain: { filename: ${c.serverChain} }
              private_key: { filename: ${c.serverKey} }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          codec_type: AUTO
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${log}
              log_format:
                text_format_source:
                  inline_string: "%PROTOCOL% %REQUESTED_SERVER_NAME% %TLS_JA4_FINGERPRINT%\\n"
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: / }
                direct_response: { status: 200, body: { inline_string: "ok" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;
}

/** One request over TLS 1.2 without SNI and without ALPN (openssl s_client). */
async function opensslTls12NoSni(port: number): Promise<string> {
  const child = new Deno.Command("openssl", {
    args: ["s_client", "-quiet", "-tls1_2", "-noservername", "-connect", `127.0.0.1:${port}`],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(
    new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
  );
  const out = await child.output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("enable_ja4_fingerprinting: %TLS_JA4_FINGERPRINT% of curl (HTTP/1.1, HTTP/2) and openssl (TLS 1.2, no SNI)", async () => {
  const c = await testCerts();
  const ja4Log = Deno.makeTempFileSync();
  const offLog = Deno.makeTempFileSync();
  const proxy = await Proxy.start(
    `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:${listener("ja4", c, true, ja4Log)}${listener("off", c, false, offLog)}
`,
    ["--file-flush-interval-msec", "20"],
  );
  const get = (port: number, version: string) =>
    curl([
      version,
      "--cacert",
      c.caCert,
      "--resolve",
      `example.com:${port}:127.0.0.1`,
      `https://example.com:${port}/`,
    ]);
  try {
    const port = proxy.port("ja4");
    assertEquals((await get(port, "--http1.1")).out, "ok");
    assertEquals((await get(port, "--http2")).out, "ok");
    assertMatch(await opensslTls12NoSni(port), /HTTP\/1\.1 200 OK/);
    const lines = await waitForLines(ja4Log, 3);
    const hex12 = "[0-9a-f]{12}";
    // t, TLS version, d(omain)/i(p) SNI, cipher and extension counts, ALPN first and last char.
    assertMatch(lines[0], new RegExp(`^HTTP/1\\.1 example\\.com t13d\\d{4}h1_${hex12}_${hex12}$`));
    assertMatch(lines[1], new RegExp(`^HTTP/2 example\\.com t13d\\d{4}h2_${hex12}_${hex12}$`));
    assertMatch(lines[2], new RegExp(`^HTTP/1\\.1 - t12i\\d{4}00_${hex12}_${hex12}$`));
    // The same client offers the same ciphers either way: only the ALPN part differs.
    assertEquals(lines[0].split(" ")[2].slice(0, 8), lines[1].split(" ")[2].slice(0, 8));

    assertEquals((await get(proxy.port("off"), "--http1.1")).out, "ok");
    assertEquals(await waitForLines(offLog, 1), ["HTTP/1.1 example.com -"]);
  } finally {
    await proxy.stop();
  }
});
