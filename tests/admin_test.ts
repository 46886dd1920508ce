/** The admin API of a running proxy: what curl-wielding operators use. */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { curl, httpConfig, Proxy, staticCluster } from "./proxy.ts";

Deno.test("admin endpoints on a running proxy", async () => {
  const p = await Proxy.start(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", 9),
  }));
  const admin = `http://127.0.0.1:${p.adminPort}`;
  try {
    const info = JSON.parse((await curl([`${admin}/server_info`])).out);
    assertEquals(info.state, "LIVE");
    assertMatch(info.version, /RELEASE/);
    assertEquals(info.command_line_options.concurrency, 1);

    assertEquals((await curl([`${admin}/listeners`])).out, `http::127.0.0.1:${p.port()}\n`);
    const clusters = (await curl([`${admin}/clusters`])).out;
    assertMatch(clusters, /^backend::127\.0\.0\.1:9::health_flags::healthy$/m);

    const dump = JSON.parse((await curl([`${admin}/config_dump`])).out);
    assertEquals(
      dump.configs[0]["@type"],
      "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
    );
    assertEquals(dump.configs[0].bootstrap.static_resources.clusters[0].name, "backend");

    const get = await curl(["-i", `${admin}/quitquitquit`]);
    assertMatch(get.out, /^HTTP\/1\.1 405/);
    const logging = await curl(["-X", "POST", `${admin}/logging?level=debug`]);
    assertMatch(logging.out, /^active loggers:\n/);
    assertMatch(logging.out, /\n {2}http: debug\n/);
    assertMatch((await curl([`${admin}/help`])).out, /^admin commands are:/);
    const bad = await curl(["-i", `${admin}/nope`]);
    assertMatch(bad.out, /^HTTP\/1\.1 404/);

    // Stats merge the workers' counters with the main thread's server.* gauges.
    const proxied = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://127.0.0.1:${p.port()}/x`,
    ]);
    assertEquals(proxied.out, "503");
    const stats = (await curl([`${admin}/stats`])).out;
    assertMatch(stats, /^http\.test\.downstream_rq_5xx: 1$/m);
    assertMatch(stats, /^http\.test\.downstream_rq_total: 1$/m);
    assertMatch(stats, /^cluster\.backend\.upstream_cx_connect_fail: 1$/m);
    assertMatch(
      stats,
      new RegExp(`^listener\\.127\\.0\\.0\\.1_${p.port()}\\.downstream_cx_total: 1$`, "m"),
    );
    assertMatch(stats, /^server\.live: 1$/m);
    const prom = (await curl([`${admin}/stats/prometheus`])).out;
    assertMatch(prom, /envoy_cluster_upstream_cx_connect_fail\{envoy_cluster_name="backend"\} 1/);

    assertEquals((await curl(["-X", "POST", `${admin}/quitquitquit`])).out, "OK\n");
    const status = await p.proc.exited();
    assertEquals(status.code, 0);
    assert(p.proc.stderr.includes("exiting"));
  } finally {
    await p.stop();
  }
});
