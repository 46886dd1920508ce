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

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
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
