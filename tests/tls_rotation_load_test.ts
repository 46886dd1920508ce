/**
 * Certificate rotation under load (issue 10): wrk over HTTPS, a new connection per request,
 * while the SDS `watched_directory` symlink is swapped between an RSA and an ECDSA certificate
 * several times; every swap is applied and no request fails (no socket error, no non-2xx).
 * `bench/tls_bench.ts --only rotate` measures the same with timings.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStats, adminStatsWhen, Proxy, staticCluster, upstream } from "./proxy.ts";
import { testCerts } from "./tls_certs.ts";

/** Swaps applied while wrk runs. */
const SWAPS = 4;

function hasWrk(): boolean {
  try {
    return new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().code !== 127;
  } catch {
    return false;
  }
}
const wrk = hasWrk();

function config(sdsPath: string, watched: string, upstreamPort: number): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: https
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificate_sds_secret_configs:
            - name: server_cert
              sds_config:
                path_config_source: { path: ${sdsPath}, watched_directory: { path: ${watched} } }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
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
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${staticCluster("backend", upstreamPort).replace(/^/gm, "  ")}
`;
}

Deno.test({
  name: wrk
    ? "SDS certificate rotation (watched_directory symlink swaps) under wrk with a new connection per request: every swap applied, no socket error, no non-2xx"
    : "SDS certificate rotation under wrk (skipped: wrk is not installed)",
  ignore: !wrk,
  fn: async () => {
    const c = await testCerts();
    const dir = await Deno.makeTempDir({ prefix: "denvoy-rotation-" });
    for (
      const [v, cert, key] of [
        ["v1", c.serverChain, c.serverKey],
        ["v2", c.ecdsaCert, c.ecdsaKey],
      ]
    ) {
      await Deno.mkdir(`${dir}/${v}`);
      await Deno.copyFile(cert, `${dir}/${v}/cert.pem`);
      await Deno.copyFile(key, `${dir}/${v}/key.pem`);
    }
    await Deno.symlink(`${dir}/v1`, `${dir}/live`);
    const sds = `${dir}/sds.yaml`;
    await Deno.writeTextFile(
      sds,
      `resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: server_cert
  tls_certificate:
    certificate_chain: { filename: ${dir}/live/cert.pem }
    private_key: { filename: ${dir}/live/key.pem }
`,
    );
    const up = upstream(() => new Response("ok"));
    const proxy = await Proxy.start(config(sds, dir, up.port));
    const port = proxy.port("https");
    const updated =
      `listener.127.0.0.1_${port}.server_ssl_socket_factory.ssl_context_update_by_sds`;
    // Runs until interrupted (SIGINT makes wrk stop and print its summary).
    const load = new Deno.Command("wrk", {
      args: ["-t1", "-c8", "-d600s", "-H", "Connection: close", `https://localhost:${port}/`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = load.output();
    try {
      // Load first, then each swap under it: the next swap waits for the previous one and for
      // more handshakes, so every certificate serves some connections.
      let handshakes = 0;
      for (let i = 1; i <= SWAPS; i++) {
        const s = await adminStatsWhen(
          proxy.adminPort,
          (s) => s[`listener.127.0.0.1_${port}.ssl.handshake`] >= handshakes + 20,
          30_000,
        );
        handshakes = s[`listener.127.0.0.1_${port}.ssl.handshake`];
        await Deno.symlink(`${dir}/${i % 2 ? "v2" : "v1"}`, `${dir}/live.new`);
        await Deno.rename(`${dir}/live.new`, `${dir}/live`);
        await adminStatsWhen(proxy.adminPort, (s) => s[updated] === i, 30_000);
      }
      await adminStatsWhen(
        proxy.adminPort,
        (s) => s[`listener.127.0.0.1_${port}.ssl.handshake`] >= handshakes + 20,
        30_000,
      );
    } finally {
      load.kill("SIGINT");
    }
    const out = new TextDecoder().decode((await output).stdout);
    try {
      assertMatch(out, /\d+ requests in/);
      assert(!/Socket errors/.test(out), out);
      assert(!/Non-2xx or 3xx responses/.test(out), out);
      const s = await adminStats(proxy.adminPort);
      assertEquals(s[updated], SWAPS);
      assertEquals(s[`listener.127.0.0.1_${port}.ssl.connection_error`], 0);
      assertEquals(s["sds.server_cert.update_rejected"] ?? 0, 0);
    } finally {
      await proxy.stop();
      await up.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
