/**
 * Graceful shutdown: SIGTERM closes the listeners, lets every request in flight finish, tells
 * keep-alive clients `connection: close`, closes idle connections after the HCM's
 * `drain_timeout`, and exits once no connection is left (or after --drain-time-s).
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { adminStatsWhen, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";
import { Http1Client } from "./http1_client.ts";

/** An upstream whose /slow requests wait until `release()`; `held` counts those waiting. */
function slowUpstream() {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const state = { held: 0 };
  const srv = upstream(async (req) => {
    if (new URL(req.url).pathname === "/slow") {
      state.held++;
      await released;
    }
    return new Response("done");
  });
  return { ...srv, state, release };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error("condition never held");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function refused(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return false;
  } catch {
    return true;
  }
}

Deno.test("SIGTERM drains: in-flight requests complete, new connections are refused, keep-alive clients get connection: close", async () => {
  const up = slowUpstream();
  const proxy = await Proxy.start(
    httpConfig({
      routes: "- match: { prefix: / }\n  route: { cluster: up }",
      clusters: staticCluster("up", up.port),
      hcmExtra: "drain_timeout: 30s",
    }),
    ["--drain-time-s", "60"],
  );
  const port = proxy.port();
  const keepAlive = await Http1Client.connect(port);
  assertEquals((await keepAlive.get("/")).status, 200);
  const slow = await Promise.all([0, 1, 2].map(() => Http1Client.connect(port)));
  const inFlight = slow.map((c) => c.get("/slow"));
  await until(() => up.state.held === 3);

  proxy.proc.child.kill("SIGTERM");
  await proxy.proc.waitFor(/draining 1 listener\(s\) for at most 60s/);
  await until(() => refused(port));
  const s = await adminStatsWhen(
    proxy.adminPort,
    (s) => s["http.test.downstream_cx_drain_close"] === 4,
  );
  assertEquals(s["server.state"], 1);
  assertEquals(s["server.live"], 0);
  assertEquals(s["listener_manager.total_listeners_draining"], 1);
  assertEquals(s["listener_manager.total_listeners_active"], 0);

  // The idle keep-alive connection is still served, and told to go.
  const last = await keepAlive.get("/");
  assertEquals(last.status, 200);
  assertEquals(last.headers["connection"], "close");
  assert(await keepAlive.waitClosed());

  up.release();
  for (const r of await Promise.all(inFlight)) {
    assertEquals(r.status, 200);
    assertEquals(r.body, "done");
    assertEquals(r.headers["connection"], "close");
  }
  const status = await proxy.proc.child.status;
  await proxy.stop();
  assertEquals(status.code, 0);
  assert(proxy.proc.stderr.includes("all connections drained"), proxy.proc.stderr);
  for (const c of slow) c.close();
  await up.close();
});

Deno.test("SIGTERM drain: an idle connection closes after drain_timeout, then the server exits", async () => {
  const up = slowUpstream();
  const proxy = await Proxy.start(
    httpConfig({
      routes: "- match: { prefix: / }\n  route: { cluster: up }",
      clusters: staticCluster("up", up.port),
      hcmExtra: "drain_timeout: 0.2s",
    }),
    ["--drain-time-s", "60"],
  );
  const idle = await Http1Client.connect(proxy.port());
  assertEquals((await idle.get("/")).status, 200);
  proxy.proc.child.kill("SIGTERM");
  assert(await idle.waitClosed());
  assertEquals((await proxy.proc.child.status).code, 0);
  await proxy.stop();
  assert(proxy.proc.stderr.includes("all connections drained"));
  await up.close();
});

Deno.test("SIGTERM drain ends after --drain-time-s even with a request still in flight", async () => {
  const up = slowUpstream();
  const proxy = await Proxy.start(
    httpConfig({
      routes: "- match: { prefix: / }\n  route: { cluster: up }",
      clusters: staticCluster("up", up.port),
    }),
    ["--drain-time-s", "1"],
  );
  const c = await Http1Client.connect(proxy.port());
  const r = c.get("/slow").catch((e) => e as Error);
  await until(() => up.state.held === 1);
  proxy.proc.child.kill("SIGTERM");
  assertEquals((await proxy.proc.child.status).code, 0);
  await proxy.stop();
  assert(proxy.proc.stderr.includes("drain time over"));
  assert((await r) instanceof Error);
  up.release();
  c.close();
  await up.close();
});

for (
  const [name, signal, args] of [
    ["SIGINT", "SIGINT", []],
    ["SIGTERM with --exit-on-sigterm", "SIGTERM", ["--exit-on-sigterm"]],
  ] as const
) {
  Deno.test(`${name} quits at once, cutting requests in flight`, async () => {
    const up = slowUpstream();
    const proxy = await Proxy.start(
      httpConfig({
        routes: "- match: { prefix: / }\n  route: { cluster: up }",
        clusters: staticCluster("up", up.port),
      }),
      ["--drain-time-s", "600", ...args],
    );
    const c = await Http1Client.connect(proxy.port());
    const r = c.get("/slow").catch((e) => e as Error);
    await until(() => up.state.held === 1);
    proxy.proc.child.kill(signal);
    assertEquals((await proxy.proc.child.status).code, 0);
    await proxy.stop();
    assert((await r) instanceof Error);
    assert(!proxy.proc.stderr.includes("draining"));
    up.release();
    c.close();
    await up.close();
  });
}

Deno.test("/drain_listeners?graceful&inboundonly: only inbound listeners drain, then stop; the others keep serving", async () => {
  const base = httpConfig({
    routes:
      `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: ok } }`,
  });
  const inbound = base.slice(base.indexOf("  - name: http"), base.indexOf("  clusters:"))
    .replace("- name: http", "- name: inbound\n    traffic_direction: INBOUND");
  const p = await Proxy.start(base.replace("  clusters:", `${inbound}  clusters:`), [
    "--drain-time-s",
    "1",
    "--drain-strategy",
    "immediate",
  ]);
  try {
    const toInbound = await Http1Client.connect(p.port("inbound"));
    const toOther = await Http1Client.connect(p.port("http"));
    assertEquals((await toInbound.get("/")).body, "ok");
    assertEquals((await toOther.get("/")).body, "ok");
    const r = await fetch(`http://127.0.0.1:${p.adminPort}/drain_listeners?graceful&inboundonly`, {
      method: "POST",
    });
    assertEquals(await r.text(), "OK\n");
    // The inbound listener's keep-alive connection is told to close by its next response.
    const last = await toInbound.get("/");
    assertEquals([last.body, last.headers["connection"]], ["ok", "close"]);
    assert(await toInbound.waitClosed());
    // After the drain time the inbound listener stops accepting; the other never drains.
    await until(() => refused(p.port("inbound")));
    const kept = await toOther.get("/");
    assertEquals([kept.body, kept.headers["connection"]], ["ok", undefined]);
    const fresh = await Http1Client.connect(p.port("http"));
    assertEquals((await fresh.get("/")).body, "ok");
    for (const c of [toOther, fresh]) c.close();
    // Counted once, for the inbound connection only.
    await adminStatsWhen(p.adminPort, (s) => s["http.test.downstream_cx_drain_close"] === 1);
  } finally {
    await p.stop();
  }
});
