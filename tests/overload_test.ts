/**
 * The overload manager end to end: `injected_resource` monitors read their pressure from files
 * this test writes; each action and load shed point is flipped on and back off, and real
 * requests show what it does (as Envoy's overload integration tests do). Also the global
 * downstream connection limit, failed monitor updates, and the config checks.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import {
  adminStats,
  adminStatsWhen,
  curl,
  fileAccessLog,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  waitForLines,
} from "./proxy.ts";

const GET = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";
const RESPONSE = /\r\n\r\n[^]*(ok|envoy overloaded)$/;

/** The monitors, one file each, and what each drives. */
const MONITORS = {
  requests: ["actions", "envoy.overload_actions.stop_accepting_requests"],
  keepalive: ["actions", "envoy.overload_actions.disable_http_keepalive"],
  stop_cx: ["actions", "envoy.overload_actions.stop_accepting_connections"],
  reject_cx: ["actions", "envoy.overload_actions.reject_incoming_connections"],
  timeouts: ["actions", "envoy.overload_actions.reduce_timeouts"],
  heap: ["actions", "envoy.overload_actions.shrink_heap"],
  shed_accept: ["loadshed_points", "envoy.load_shed_points.tcp_listener_accept"],
  shed_headers: [
    "loadshed_points",
    "envoy.load_shed_points.http_connection_manager_decode_headers",
  ],
} as const;
type MonitorName = keyof typeof MONITORS;

function overloadConfig(files: Record<MonitorName, string>): string {
  const monitors = Object.entries(files).map(([name, file]) => `
  - name: ${name}
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.injected_resource.v3.InjectedResourceConfig
      filename: ${file}`).join("");
  const entries = (kind: string) =>
    Object.entries(MONITORS).filter(([, [k]]) => k === kind).map(([monitor, [, name]]) => `
  - name: ${name}
    triggers:
    - name: ${monitor}
      threshold: { value: 0.9 }${
      name.endsWith("reduce_timeouts")
        ? `
    typed_config:
      "@type": type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig
      timer_scale_factors:
      - timer: HTTP_DOWNSTREAM_CONNECTION_IDLE
        min_timeout: 0.2s`
        : ""
    }`).join("");
  return `overload_manager:
  refresh_interval: 0.05s
  resource_monitors:${monitors}
  actions:${entries("actions")}
  loadshed_points:${entries("loadshed_points")}
`;
}

/** Sets a monitor's pressure and waits until the action's scale follows. */
async function setPressure(
  p: Proxy,
  files: Record<MonitorName, string>,
  monitor: MonitorName,
  pressure: number,
): Promise<void> {
  Deno.writeTextFileSync(files[monitor], String(pressure));
  const scale = `overload.${MONITORS[monitor][1]}.scale_percent`;
  const want = pressure >= 0.9 ? 100 : 0;
  await adminStatsWhen(p.adminPort, (s) => s[scale] === want);
}

/**
 * The status of a GET once one is served (polled; undefined after 20 s). The admin connections
 * the test polls stats over count in the global connection limit and are released only when the
 * proxy sees them close, which on a loaded machine can take seconds.
 */
async function eventually(
  request: () => Promise<{ status: number } | undefined>,
): Promise<number | undefined> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const r = await request();
    if (r) return r.status;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/**
 * A GET on a new connection: its response, or undefined when the proxy closed it unanswered.
 * The bound is long: a connection held back by stop_accepting_connections waits through several
 * admin round trips, which take seconds each on a busy machine.
 */
async function get(port: number): Promise<ReturnType<typeof parseResponse> | undefined> {
  const raw = await rawExchange(port, GET, { until: RESPONSE, timeoutMs: 60_000 });
  return raw ? parseResponse(raw) : undefined;
}

Deno.test("overload actions and load shed points flip on and back with injected pressure", async (t) => {
  const files = Object.fromEntries(
    Object.keys(MONITORS).map((m) => [m, tempFile("0", ".pressure")]),
  ) as Record<MonitorName, string>;
  const log = tempFile("", ".log");
  const p = await Proxy.start(
    httpConfig({
      routes:
        `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: ok } }`,
      hcmExtra: `common_http_protocol_options: { idle_timeout: 60s }\n` +
        fileAccessLog(log, "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%"),
    }) + overloadConfig(files),
    ["--file-flush-interval-msec", "20"],
  );
  const port = p.port();
  let logged = 0;
  try {
    await t.step("stop_accepting_requests: 503 envoy overloaded, flag OM", async () => {
      const before = await adminStats(p.adminPort);
      assertEquals(before["overload.requests.pressure"], 0);
      assertEquals(before["overload.envoy.overload_actions.stop_accepting_requests.active"], 0);
      await setPressure(p, files, "requests", 0.95);
      const s = await adminStats(p.adminPort);
      assertEquals(s["overload.requests.pressure"], 95);
      assertEquals(s["overload.envoy.overload_actions.stop_accepting_requests.active"], 1);
      const r = await get(port);
      assertEquals([r?.status, r?.body], [503, "envoy overloaded"]);
      assertEquals((await waitForLines(log, ++logged)).at(-1), "503 OM overload");
      await adminStatsWhen(p.adminPort, (s) => s["http.test.downstream_rq_overload_close"] === 1);
      await setPressure(p, files, "requests", 0);
      assertEquals((await get(port))?.status, 200);
      logged++;
    });

    await t.step("disable_http_keepalive: responses close their connections", async () => {
      await setPressure(p, files, "keepalive", 1);
      const on = await get(port);
      assertEquals([on?.status, on?.headers["connection"]], [200, "close"]);
      await adminStatsWhen(
        p.adminPort,
        (s) => s["http.test.downstream_cx_overload_disable_keepalive"] === 1,
      );
      await setPressure(p, files, "keepalive", 0);
      const off = await get(port);
      assertEquals([off?.status, off?.headers["connection"]], [200, undefined]);
      logged += 2;
    });

    await t.step("reject_incoming_connections: accepted, then closed unread", async () => {
      await setPressure(p, files, "reject_cx", 1);
      assertEquals(await rawExchange(port, GET, { until: RESPONSE }), "");
      await adminStatsWhen(
        p.adminPort,
        (s) => s["listener.127.0.0.1_" + port + ".downstream_cx_overload_reject"] === 1,
      );
      await setPressure(p, files, "reject_cx", 0);
      assertEquals((await get(port))?.status, 200);
      logged++;
    });

    await t.step("tcp_listener_accept load shed point: connections closed, counted", async () => {
      await setPressure(p, files, "shed_accept", 1);
      assertEquals(await rawExchange(port, GET, { until: RESPONSE }), "");
      await adminStatsWhen(
        p.adminPort,
        (s) => s["overload.envoy.load_shed_points.tcp_listener_accept.shed_load_count"] === 1,
      );
      await setPressure(p, files, "shed_accept", 0);
      assertEquals((await get(port))?.status, 200);
      logged++;
    });

    await t.step("http_connection_manager_decode_headers load shed point: 503", async () => {
      await setPressure(p, files, "shed_headers", 1);
      const r = await get(port);
      assertEquals([r?.status, r?.body], [503, "envoy overloaded"]);
      const name = "overload.envoy.load_shed_points.http_connection_manager_decode_headers";
      await adminStatsWhen(p.adminPort, (s) => s[`${name}.shed_load_count`] === 1);
      await setPressure(p, files, "shed_headers", 0);
      assertEquals((await get(port))?.status, 200);
      logged += 2;
    });

    await t.step("stop_accepting_connections: a new connection waits, then is served", async () => {
      await setPressure(p, files, "stop_cx", 1);
      const cxTotal = `listener.127.0.0.1_${port}.downstream_cx_total`;
      const before = (await adminStats(p.adminPort))[cxTotal];
      let answered = false;
      const held = get(port).then((r) => {
        answered = true;
        return r;
      });
      // Several admin round trips: the worker would have counted and answered it by now.
      for (let i = 0; i < 5; i++) assertEquals((await adminStats(p.adminPort))[cxTotal], before);
      assert(!answered, "a connection was served while stop_accepting_connections was on");
      await setPressure(p, files, "stop_cx", 0);
      assertEquals((await held)?.status, 200);
      logged++;
    });

    await t.step(
      "reduce_timeouts: idle connections close at min_timeout, not idle_timeout",
      async () => {
        // Idle before the action starts: its armed timer follows the new scale.
        const before = await Deno.connect({ hostname: "127.0.0.1", port });
        await setPressure(p, files, "timeouts", 1);
        // An idle connection (60 s idle_timeout) is closed by the server within the test's bound.
        const idle = await Deno.connect({ hostname: "127.0.0.1", port });
        assertEquals(await idle.read(new Uint8Array(16)), null);
        idle.close();
        assertEquals(await before.read(new Uint8Array(16)), null);
        before.close();
        await adminStatsWhen(p.adminPort, (s) => s["http.test.downstream_cx_idle_timeout"] >= 2);
        await setPressure(p, files, "timeouts", 0);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        // Three times the reduced timeout: the connection must still be open.
        await new Promise((r) => setTimeout(r, 600));
        await conn.write(new TextEncoder().encode(GET));
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf);
        conn.close();
        assertMatch(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
        logged++;
      },
    );

    await t.step("shrink_heap: a full collection every 10 s while saturated", async () => {
      await setPressure(p, files, "heap", 1);
      const count = "overload.envoy.overload_actions.shrink_heap.shrink_count";
      await adminStatsWhen(p.adminPort, (s) => s[count] >= 1, 25_000);
      await setPressure(p, files, "heap", 0);
      assertEquals((await get(port))?.status, 200);
      logged++;
    });

    await t.step(
      "a pressure file that cannot be read is a failed update; the last stays",
      async () => {
        Deno.writeTextFileSync(files.requests, "1.5");
        await adminStatsWhen(p.adminPort, (s) => s["overload.requests.failed_updates"] >= 1);
        Deno.removeSync(files.requests);
        const n = (await adminStats(p.adminPort))["overload.requests.failed_updates"];
        const s = await adminStatsWhen(
          p.adminPort,
          (s) => s["overload.requests.failed_updates"] > n,
        );
        assertEquals(s["overload.requests.pressure"], 0);
        assertEquals(s["overload.requests.skipped_updates"], 0);
        assertEquals((await get(port))?.status, 200);
      },
    );
  } finally {
    await p.stop();
  }
});

/** The admin stays reachable at the global connection limit (Envoy's opt-out). */
function adminIgnoresLimit(config: string): string {
  return config.replace("admin:\n", "admin:\n  ignore_global_conn_limit: true\n");
}

Deno.test("global_downstream_max_connections: connections over the limit are closed", async () => {
  const p = await Proxy.start(
    httpConfig({
      routes:
        `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: ok } }`,
    }) + `overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: 2
`,
    ["--concurrency", "2"],
  );
  const port = p.port();
  try {
    const a = await Deno.connect({ hostname: "127.0.0.1", port });
    const b = await Deno.connect({ hostname: "127.0.0.1", port });
    const total = `listener.127.0.0.1_${port}.downstream_cx_total`;
    await adminStatsWhen(p.adminPort, (s) => s[total] === 2);
    // The third, on whichever worker, is over the process-wide limit.
    assertEquals(await rawExchange(port, GET, { until: RESPONSE }), "");
    await adminStatsWhen(
      p.adminPort,
      (s) => s[`listener.127.0.0.1_${port}.downstream_global_cx_overflow`] === 1,
    );
    // The admin answered all along without ignore_global_conn_limit: as in Envoy, a monitor's
    // limit neither counts nor refuses admin connections.
    a.close();
    await adminStatsWhen(
      p.adminPort,
      (s) => s[`listener.127.0.0.1_${port}.downstream_cx_active`] === 1,
    );
    assertEquals(await eventually(() => get(port)), 200);
    b.close();
  } finally {
    await p.stop();
  }
});

Deno.test("the runtime key overload.global_downstream_max_connections limits connections", async () => {
  const p = await Proxy.start(
    adminIgnoresLimit(httpConfig({
      routes:
        `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: ok } }`,
    })) + `layered_runtime:
  layers:
  - name: static
    static_layer: { overload.global_downstream_max_connections: 1 }
`,
  );
  const port = p.port();
  try {
    const a = await Deno.connect({ hostname: "127.0.0.1", port });
    await adminStatsWhen(
      p.adminPort,
      (s) => s[`listener.127.0.0.1_${port}.downstream_cx_total`] === 1,
    );
    assertEquals(await rawExchange(port, GET, { until: RESPONSE }), "");
    a.close();
    await adminStatsWhen(
      p.adminPort,
      (s) => s[`listener.127.0.0.1_${port}.downstream_cx_active`] === 0,
    );
    // The admin's own connections count under the runtime key (it only ignores the limit) and
    // are released when the proxy sees them close, so the freed place is polled for.
    assertEquals(await eventually(() => get(port)), 200);
  } finally {
    await p.stop();
  }
});

Deno.test("the runtime key's limit counts admin connections, refused unless ignore_global_conn_limit", async () => {
  const p = await Proxy.start(
    httpConfig({
      routes:
        `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: ok } }`,
    }) + `layered_runtime:
  layers:
  - name: static
    static_layer: { overload.global_downstream_max_connections: 1 }
`,
  );
  const port = p.port();
  try {
    // The one connection allowed is the data listener's: the admin is refused meanwhile.
    const held = await Deno.connect({ hostname: "127.0.0.1", port });
    assertEquals(await get(port), undefined);
    const admin = await curl([`http://127.0.0.1:${p.adminPort}/ready`]);
    assert(admin.code !== 0, "the admin answered over the global connection limit");
    held.close();
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["listener.admin.downstream_global_cx_overflow"] >= 1,
    );
    assertEquals(s[`listener.127.0.0.1_${port}.downstream_global_cx_overflow`], 1);
  } finally {
    await p.stop();
  }
});

Deno.test("--mode validate: overload manager problems are named with their place", async () => {
  const path = tempFile(`overload_manager:
  resource_monitors:
  - name: heap
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig
      max_heap_size_bytes: 1000000
  - name: cx
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: 10
  actions:
  - name: envoy.overload_actions.stop_accepting_requests
    triggers:
    - name: heap
      scaled: { scaling_threshold: 0.9, saturation_threshold: 0.8 }
  - name: envoy.overload_actions.disable_http_keepalive
    triggers:
    - name: missing
      threshold: { value: 0.9 }
  - name: envoy.overload_actions.reset_high_memory_stream
    triggers:
    - name: cx
      threshold: { value: 0.9 }
  loadshed_points:
  - name: envoy.load_shed_points.http1_server_abort_dispatch
    triggers:
    - name: heap
      threshold: { value: 0.9 }
`);
  const r = await runMain(["--mode", "validate", "-c", path]);
  assertEquals(r.code, 1);
  for (
    const line of [
      `${path}:15:15: overload_manager.actions[0].triggers[0].scaled: scaling_threshold must be less than saturation_threshold`,
      `${path}:18:13: overload_manager.actions[1].triggers[0].name: Unknown trigger resource missing`,
      `${path}:20:11: overload_manager.actions[2].name: unsupported: overload action 'envoy.overload_actions.reset_high_memory_stream'`,
      `${path}:22:13: overload_manager.actions[2].triggers[0].name: overload action envoy.overload_actions.reset_high_memory_stream: resource monitor 'cx' limits connections itself`,
      `${path}:25:11: overload_manager.loadshed_points[0].name: unsupported: load shed point 'envoy.load_shed_points.http1_server_abort_dispatch'`,
    ]
  ) assert(r.stderr.includes(line), `missing: ${line}\nin:\n${r.stderr}`);
});

Deno.test("a listener's runtime connection_limit: downstream_cx_overflow over it", async () => {
  const p = await Proxy.start(
    httpConfig({
      routes:
        `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: ok } }`,
    }) + `layered_runtime:
  layers:
  - name: static
    static_layer: { envoy.resource_limits.listener.http.connection_limit: 1 }
`,
    ["--concurrency", "2"],
  );
  const port = p.port();
  const listener = `listener.127.0.0.1_${port}`;
  try {
    const a = await Deno.connect({ hostname: "127.0.0.1", port });
    await adminStatsWhen(p.adminPort, (s) => s[`${listener}.downstream_cx_total`] === 1);
    assertEquals(await rawExchange(port, GET, { until: RESPONSE }), "");
    await adminStatsWhen(p.adminPort, (s) => s[`${listener}.downstream_cx_overflow`] === 1);
    a.close();
    await adminStatsWhen(p.adminPort, (s) => s[`${listener}.downstream_cx_active`] === 0);
    assertEquals((await get(port))?.status, 200);
  } finally {
    await p.stop();
  }
});
