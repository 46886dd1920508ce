/**
 * Certificate rotation under load (issue 10): wrk over HTTPS, a new connection per request,
 * while the SDS `watched_directory` symlink is swapped between an RSA and an ECDSA certificate
 * several times; every swap is applied and no request fails (no socket error, no non-2xx).
 * `bench/tls_bench.ts --only rotate` measures the same with timings.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStats, adminStatsWhen, Proxy, staticCluster, upstream } from "./proxy.ts";
import { testCerts } from "./tls_certs.ts";
import { httpsConfig, sdsVersions, swapLive, watchedSdsTls } from "./tls_config.ts";

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

/** The shared HTTPS listener config, its certificate from the SDS file `sdsPath` watched in `watched`. */
function config(sdsPath: string, watched: string, upstreamPort: number): string {
  return httpsConfig({
    tls: watchedSdsTls(sdsPath, watched),
    clusters: staticCluster("backend", upstreamPort),
  });
}

Deno.test({
  name: wrk
    ? "SDS certificate rotation (watched_directory symlink swaps) under wrk with a new connection per request: every swap applied, no socket error, no non-2xx"
    : "SDS certificate rotation under wrk (skipped: wrk is not installed)",
  ignore: !wrk,
  fn: async () => {
    const c = await testCerts();
    const { dir, sds } = await sdsVersions([
      ["v1", c.serverChain, c.serverKey],
      ["v2", c.ecdsaCert, c.ecdsaKey],
    ]);
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
        await swapLive(dir, i % 2 ? "v2" : "v1");
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
