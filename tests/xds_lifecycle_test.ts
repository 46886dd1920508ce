/**
 * The server's life around xDS: the admin answers while the initial fetches are pending
 * (`/ready` 503 INITIALIZING, `/server_info`, `/stats`, `/config_dump`), then LIVE once they
 * arrive.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { ServerProcess, tempFile } from "./helpers.ts";
import { adminStats, upstream } from "./proxy.ts";
import {
  adsBootstrap,
  CLUSTER,
  cluster,
  ControlPlane,
  ENDPOINT,
  endpoints,
  get,
  LISTENER,
  listener,
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
