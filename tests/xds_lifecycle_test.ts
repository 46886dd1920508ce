/**
 * The server's life around xDS: the admin answers while the initial fetches are pending
 * (`/ready` 503 INITIALIZING, `/server_info`, `/stats`, `/config_dump`), then LIVE once they
 * arrive; a listener update that changes only filter chains drains only the connections of
 * the chains it removed (Envoy's in-place filter chain update).
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { ServerProcess, tempFile } from "./helpers.ts";
import { Http1Client } from "./http1_client.ts";
import { adminStats, adminStatsWhen, Proxy, upstream } from "./proxy.ts";
import {
  adsBootstrap,
  adsPlane,
  CLUSTER,
  cluster,
  ControlPlane,
  ENDPOINT,
  endpoints,
  get,
  LISTENER,
  listener,
  P,
  ROUTE,
  route,
} from "./xds_control_plane.ts";

Deno.test("admin answers during start-up: /ready INITIALIZING until the first CDS and LDS", async () => {
  const a = upstream(() => new Response("a"));
  // No clusters yet: the proxy waits for its first CDS answer.
  const cp = new ControlPlane(new Map<string, unknown[]>([[LISTENER, [listener]]]));
  await cp.start();
  const proc = new ServerProcess(["-c", tempFile(adsBootstrap(cp.port)), "--concurrency", "1"]);
  try {
    await proc.waitFor(/admin address: .*:(\d+)\n/);
    const admin = `http://127.0.0.1:${/admin address: .*:(\d+)\n/.exec(proc.stderr)![1]}`;
    await cp.waitRequest((r) => r.typeUrl === CLUSTER);
    const ready = await fetch(`${admin}/ready`);
    assertEquals(ready.status, 503);
    assertEquals(await ready.text(), "INITIALIZING\n");
    const info = await (await fetch(`${admin}/server_info`)).json();
    assertEquals(info.state, "INITIALIZING");
    const stats = await adminStats(Number(new URL(admin).port));
    assertEquals(stats["server.state"], 3, "server.state gauge: INITIALIZING");
    assertEquals(stats["control_plane.connected_state"], 1);
    const dump = await (await fetch(`${admin}/config_dump`)).json();
    assert(
      dump.configs.some((c: { "@type": string }) => c["@type"].endsWith("BootstrapConfigDump")),
    );
    assert(!/all listeners ready/.test(proc.stderr));

    cp.resources.set(ENDPOINT, [endpoints(a.port)]);
    cp.resources.set(ROUTE, [route]);
    cp.push(CLUSTER, [cluster()]);
    await proc.waitFor(/all listeners ready/);
    const live = await fetch(`${admin}/ready`);
    assertEquals(await live.text(), "LIVE\n");
    assertEquals(live.status, 200);
    await proc.waitFor(/listener 'ads_listener' added on [^:]+:\d+/);
    const port = Number(/listener 'ads_listener' added on [^:]+:(\d+)/.exec(proc.stderr)![1]);
    assertEquals(await get(`http://127.0.0.1:${port}/`), "a");
  } finally {
    await proc.stop();
    cp.stop();
    await a.close();
  }
});

const HCM = P + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** A filter chain for connections to `ip` whose connection manager answers `body`. */
function chainTo(ip: string, body: string) {
  return {
    filter_chain_match: { prefix_ranges: [{ address_prefix: ip, prefix_len: 32 }] },
    filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": HCM,
        stat_prefix: ip,
        route_config: {
          virtual_hosts: [{
            name: "all",
            domains: ["*"],
            routes: [{
              match: { prefix: "/" },
              direct_response: { status: 200, body: { inline_string: body } },
            }],
          }],
        },
        http_filters: [{
          name: "envoy.filters.http.router",
          typed_config: { "@type": P + "envoy.extensions.filters.http.router.v3.Router" },
        }],
      },
    }],
  };
}

/** Listener `chains` on 0.0.0.0: one chain per destination address. */
function chainsListener(a: string, b: string, extra: Record<string, unknown> = {}) {
  return {
    "@type": LISTENER,
    name: "chains",
    address: { socket_address: { address: "0.0.0.0", port_value: 0 } },
    filter_chains: [chainTo("127.0.0.1", a), chainTo("127.0.0.2", b)],
    ...extra,
  };
}

Deno.test("LDS: a filter-chain-only change updates the listener in place; a listener-level change replaces it", async () => {
  const cp = new ControlPlane(
    new Map<string, unknown[]>([[CLUSTER, []], [LISTENER, [chainsListener("a1", "b1")]]]),
  );
  await cp.start();
  const p = await Proxy.start(adsBootstrap(cp.port), [
    "--drain-time-s",
    "30",
    "--drain-strategy",
    "immediate",
  ]);
  const clients: Http1Client[] = [];
  const connect = async (ip: string) => {
    const c = await Http1Client.connect(port, ip);
    clients.push(c);
    return c;
  };
  let port = 0;
  /** A new connection to `ip` until it answers `body` (the workers applied the update). */
  const until = async (ip: string, body: string) => {
    for (;;) {
      const c = await connect(ip);
      const r = await c.get("/");
      c.close();
      if (r.body === body) return;
      await new Promise((res) => setTimeout(res, 20));
    }
  };
  try {
    port = await p.addedPort("chains");
    const ca = await connect("127.0.0.1");
    const cb = await connect("127.0.0.2");
    assertEquals((await ca.get("/")).body, "a1");
    assertEquals((await cb.get("/")).body, "b1");

    // Only chain b changes: its connection drains, chain a's keeps its config and connection.
    cp.push(LISTENER, [chainsListener("a1", "b2")]);
    await until("127.0.0.2", "b2");
    const ra = await ca.get("/");
    assertEquals(ra.body, "a1");
    assertEquals(ra.headers.connection, undefined);
    const rb = await cb.get("/");
    assertEquals(rb.body, "b1", "an open connection keeps the chain it was accepted on");
    assertEquals(rb.headers.connection, "close");
    assert(await cb.waitClosed());
    let stats = await adminStats(p.adminPort);
    assertEquals(stats["listener_manager.listener_in_place_updated"], 1);
    assertEquals(stats["listener_manager.listener_modified"], 1);
    assertEquals(stats["listener_manager.total_filter_chains_draining"], 1);
    assertEquals(stats["listener_manager.total_listeners_draining"], 0);
    assertEquals((await ca.get("/")).headers.connection, undefined);

    // A listener-level field changes: the whole listener is replaced, every connection drains.
    cp.push(LISTENER, [chainsListener("a1", "b2", { per_connection_buffer_limit_bytes: 65536 })]);
    stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["listener_manager.listener_modified"] === 2,
    );
    assertEquals(stats["listener_manager.listener_in_place_updated"], 1);
    assertEquals(stats["listener_manager.total_listeners_draining"], 1);
    for (;;) {
      const r = await ca.get("/");
      if (r.headers.connection === "close") break;
      await new Promise((res) => setTimeout(res, 20));
    }
    await until("127.0.0.1", "a1");
  } finally {
    for (const c of clients) c.close();
    await p.stop();
    cp.stop();
  }
});

Deno.test("ADS rate_limit_settings: requests beyond the token bucket wait for a token, counted", async () => {
  const a = upstream(() => new Response("a"));
  const cp = await adsPlane(a.port);
  // One token, refilled 20 times a second: CDS, EDS, LDS, RDS and their ACKs queue up.
  const boot = adsBootstrap(cp.port).replace(
    "transport_api_version: V3\n",
    "transport_api_version: V3\n    rate_limit_settings: { max_tokens: 1, fill_rate: 20 }\n",
  );
  const p = await Proxy.start(boot);
  try {
    const port = await p.addedPort("ads_listener");
    assertEquals(await get(`http://127.0.0.1:${port}/`), "a");
    await cp.waitRequest((r) => r.typeUrl === ROUTE && r.versionInfo === "1");
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["control_plane.pending_requests"] === 0,
    );
    assert(stats["control_plane.rate_limit_enforced"] >= 1);
  } finally {
    await p.stop();
    cp.stop();
    await a.close();
  }
});
