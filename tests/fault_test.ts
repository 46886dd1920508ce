/**
 * The fault filter on the real data path, with curl and a real upstream, one proxy for all
 * cases: per-route aborts on a route (503 at 100%, FI) and on a weighted cluster (418),
 * header-controlled delay (counted by stat
 * and flagged DI, never timed), a header-controlled gRPC abort (trailers-only grpc-status over
 * HTTP/2), a rate-limited body that arrives whole; and `--mode validate` refusing a bad fault
 * config with its place in the file.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import {
  adminStatsWhen,
  curl,
  fileAccessLog,
  httpConfig,
  Proxy,
  staticCluster,
  upstream,
  waitForLines,
} from "./proxy.ts";

const BODY = "x".repeat(8192);
const FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

function config(upstreamPort: number, logPath: string): string {
  return httpConfig({
    hcmExtra: fileAccessLog(logPath, "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%"),
    routes: `- match: { prefix: "/abort" }
  route: { cluster: backend }
  typed_per_filter_config:
    envoy.filters.http.fault:
      "@type": ${FAULT}
      abort: { http_status: 503, percentage: { numerator: 100 } }
- match: { prefix: "/weighted" }
  route:
    weighted_clusters:
      clusters:
      - name: backend
        weight: 1
        typed_per_filter_config:
          envoy.filters.http.fault:
            "@type": ${FAULT}
            abort: { http_status: 418, percentage: { numerator: 100 } }
- match: { prefix: "/" }
  route: { cluster: backend }`,
    httpFilters: `- name: envoy.filters.http.fault
  typed_config:
    "@type": ${FAULT}
    abort: { header_abort: {}, percentage: { numerator: 100 } }
    delay: { header_delay: {}, percentage: { numerator: 100 } }
    response_rate_limit: { header_limit: {}, percentage: { numerator: 100 } }`,
    clusters: staticCluster("backend", upstreamPort),
  });
}

Deno.test("fault filter: abort, delay, gRPC abort and rate limit through curl", async () => {
  let upstreamRequests = 0;
  const up = upstream(() => {
    upstreamRequests++;
    return new Response(BODY);
  });
  const log = Deno.makeTempFileSync({ suffix: ".log" });
  const proxy = await Proxy.start(config(up.port, log), ["--file-flush-interval-msec", "20"]);
  try {
    const base = `http://127.0.0.1:${proxy.port()}`;
    const abort = await curl(["-w", "%{http_code}", `${base}/abort`]);
    assertEquals(abort.out, "fault filter abort503");
    const weighted = await curl(["-w", "%{http_code}", `${base}/weighted`]);
    assertEquals(weighted.out, "fault filter abort418");

    const delayed = await curl(["-H", "x-envoy-fault-delay-request: 50", `${base}/delay`]);
    assertEquals(delayed.out, BODY);

    const grpc = await curl([
      "-i",
      "--http2-prior-knowledge",
      "-X",
      "POST",
      "-H",
      "content-type: application/grpc",
      "-H",
      "x-envoy-fault-abort-grpc-request: 14",
      `${base}/pkg.Svc/Method`,
    ]);
    assert(/^HTTP\/2 200/.test(grpc.out), grpc.out + grpc.err);
    assert(/\r\ngrpc-status: 14\r\n/.test(grpc.out), grpc.out);

    // 16 KiB/s: 1 KiB slices, 8 of them; the body arrives whole.
    const paced = await curl(["-H", "x-envoy-fault-throughput-response: 16", `${base}/paced`]);
    assertEquals(paced.out, BODY);

    const stats = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["http.test.fault.response_rl_injected"] === 1,
    );
    assertEquals(stats["http.test.fault.aborts_injected"], 3);
    assertEquals(stats["http.test.fault.delays_injected"], 1);
    assertEquals(stats["http.test.fault.faults_overflow"], 0);
    assertEquals(upstreamRequests, 2, "aborted requests never reach the upstream");
    const lines = await waitForLines(log, 5);
    assertEquals(lines, [
      "/abort 503 FI",
      "/weighted 418 FI",
      "/delay 200 DI",
      "/pkg.Svc/Method 200 FI",
      "/paced 200 -",
    ]);
    await adminStatsWhen(proxy.adminPort, (s) => s["http.test.fault.active_faults"] === 0);
  } finally {
    await proxy.stop();
    await up.close();
    Deno.removeSync(log);
  }
});

Deno.test("fault filter: validate refuses an abort status out of range, with its place", async () => {
  const path = tempFile(
    config(9, "/dev/null").replace(
      "abort: { header_abort: {}, percentage: { numerator: 100 } }",
      "abort: { http_status: 100 }",
    ),
  );
  const r = await runMain(["--mode", "validate", "-c", path]);
  assertEquals(r.code, 1, r.stderr);
  assert(
    new RegExp(`^${path}:\\d+:\\d+: .*http_filters\\[0\\]\\.typed_config\\.abort\\.http_status`)
      .test(r.stderr),
    r.stderr,
  );
});
