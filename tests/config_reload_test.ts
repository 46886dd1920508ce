/**
 * Live reload of the bootstrap (`--watch-config`, SIGHUP, `POST /config_reload`): a valid file's
 * routes, listeners and clusters apply while requests run, with none failing; a broken file
 * changes nothing and is reported with its position, in the log, a stat and `/config_dump`.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, httpConfig, Proxy, staticCluster, upstream } from "./proxy.ts";
import { freePort } from "./helpers.ts";

/** Requests `url` until `ok` holds for the answer (fails after 20 s with the last one). */
async function until(url: string, ok: (out: string) => boolean): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await curl(["-i", url]);
    if (ok(r.out)) return r.out;
    if (Date.now() > deadline) throw new Error(`never got the expected answer: ${r.out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Requests back to back on keep-alive connections until stopped; collects failures. */
function load(url: string): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  const failed: string[] = [];
  let ok = 0;
  const client = Deno.createHttpClient({});
  const loops = [0, 1].map(async () => {
    while (running) {
      try {
        const r = await fetch(url, { client });
        await r.text();
        if (r.status === 200) ok++;
        else failed.push(`status ${r.status}`);
      } catch (e) {
        failed.push((e as Error).message);
      }
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      client.close();
      return { ok, failed };
    },
  };
}

/** The proxy's config with listener port `port` fixed (a reload keeps the address). */
function config(port: number, route: string, clusters: string): string {
  return httpConfig({ routes: route, clusters }).replace(
    "address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n    filter_chains",
    `address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }\n    filter_chains`,
  );
}

const toA = `- match: { prefix: "/" }\n  route: { cluster: a }`;
const toB = `- match: { prefix: "/" }\n  route: { cluster: b }`;

Deno.test("--watch-config: a changed route and cluster apply under load; a broken file changes nothing", async () => {
  const a = upstream(() => new Response("a"));
  const b = upstream(() => new Response("b"));
  const port = freePort();
  const p = await Proxy.start(config(port, toA, staticCluster("a", a.port)), ["--watch-config"]);
  try {
    const url = `http://127.0.0.1:${port}/`;
    assertEquals((await curl([url])).out, "a");
    const traffic = load(url);
    // A new cluster and a route to it, written in place (an editor's save).
    Deno.writeTextFileSync(
      p.configPath,
      config(port, toB, staticCluster("a", a.port) + staticCluster("b", b.port)),
    );
    await until(url, (out) => out.endsWith("b")).catch((e) => {
      throw new Error(`${e.message}\n${p.proc.stderr}`);
    });
    // The cluster changes its endpoint: its pools drain, new requests go to the new host.
    Deno.writeTextFileSync(
      p.configPath,
      config(port, toB, staticCluster("a", a.port) + staticCluster("b", a.port)),
    );
    await until(url, (out) => out.endsWith("a"));
    const { ok, failed } = await traffic.stop();
    assertEquals(failed, []);
    assert(ok > 0);
    // Broken: an unknown field. Nothing changes; the error names the file, line and field.
    Deno.writeTextFileSync(
      p.configPath,
      config(port, toA, staticCluster("a", a.port, "lb_polcy: RANDOM")),
    );
    const s = await adminStatsWhen(
      p.adminPort,
      (s) => s["server.bootstrap_reload.update_rejected"] === 1,
    );
    assertEquals(s["server.bootstrap_reload.update_success"], 2);
    assertEquals(s["cluster_manager.cluster_added"], 2);
    assertEquals(s["cluster_manager.cluster_modified"], 1);
    assertEquals(s["listener_manager.listener_modified"], 1);
    assertMatch(p.proc.stderr, new RegExp(`${p.configPath}:\\d+:\\d+: .*lb_polcy`));
    assertMatch(p.proc.stderr, /bootstrap reload rejected; the running config is unchanged/);
    assertEquals((await curl([url])).out, "a");
    const dump = JSON.parse((await curl([`http://127.0.0.1:${p.adminPort}/config_dump`])).out);
    const failure = dump.configs.find((c: { "@type": string }) =>
      c["@type"].endsWith("UpdateFailureState")
    );
    assertMatch(failure.details, /lb_polcy/);
    assert(failure.version_info.length > 0);
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

Deno.test("POST /config_reload and SIGHUP reload; a listener removed by the file drains away", async () => {
  const a = upstream(() => new Response("a"));
  const port = freePort();
  const second = freePort();
  const twoListeners = (text: string) => {
    const listener = text.slice(text.indexOf("  - name: http"), text.indexOf("  clusters:"));
    return text.replace(
      "  clusters:",
      listener.replace("name: http", "name: other").replace(
        `port_value: ${port}`,
        `port_value: ${second}`,
      ) +
        "  clusters:",
    );
  };
  const p = await Proxy.start(twoListeners(config(port, toA, staticCluster("a", a.port))));
  try {
    assertEquals((await curl([`http://127.0.0.1:${second}/`])).out, "a");
    const admin = `http://127.0.0.1:${p.adminPort}/config_reload`;
    assertEquals((await curl([admin])).out, "Method GET not allowed, POST required.");
    const same = await curl(["-X", "POST", admin]);
    assertEquals(same.out, "bootstrap reloaded: nothing changed\n");
    Deno.writeTextFileSync(p.configPath, config(port, toA, staticCluster("a", a.port)));
    const removed = await curl(["-X", "POST", "-w", "%{http_code}", admin]);
    assertEquals(removed.out, "bootstrap reloaded: listener 'other' (removed)\n200");
    const refused = await curl([`http://127.0.0.1:${second}/`]);
    assert(refused.code !== 0);
    // SIGHUP: the same, here with a file the cluster manager refuses (bad maglev table).
    Deno.writeTextFileSync(
      p.configPath,
      config(
        port,
        toA,
        staticCluster("a", a.port, "lb_policy: MAGLEV\nmaglev_lb_config: { table_size: 8 }"),
      ),
    );
    p.proc.child.kill("SIGHUP");
    await p.proc.waitFor(/bootstrap reload rejected/);
    assertMatch(p.proc.stderr, /cluster 'a': The table size of maglev must be prime number/);
    const bad = await curl(["-X", "POST", "-w", "%{http_code}", admin]);
    assertMatch(bad.out, /maglev[^]*400$/);
    assertEquals((await curl([`http://127.0.0.1:${port}/`])).out, "a");
  } finally {
    await p.stop();
    await a.close();
  }
});

/** Sends one keep-alive GET on `conn` and returns the response head and body text. */
async function get(conn: Deno.Conn): Promise<string> {
  await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  const buf = new Uint8Array(4096);
  let text = "";
  while (!/\r\n\r\n[^]*a$/.test(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("a modified listener's connections drain (immediate strategy); an unchanged one's stay", async () => {
  const a = upstream(() => new Response("a"));
  const port = freePort();
  const second = freePort();
  const withOther = (text: string) => {
    const named = text.replace(
      "stat_prefix: test",
      "stat_prefix: test\n          server_name: NAME",
    );
    const listener = named.slice(named.indexOf("  - name: http"), named.indexOf("  clusters:"));
    return named.replace(
      "  clusters:",
      listener.replace("name: http", "name: other").replace("NAME", "keep")
        .replace(`port_value: ${port}`, `port_value: ${second}`) + "  clusters:",
    ).replace("NAME", "one");
  };
  const initial = withOther(config(port, toA, staticCluster("a", a.port)));
  const p = await Proxy.start(initial, ["--drain-strategy", "immediate"]);
  const modified = await Deno.connect({ hostname: "127.0.0.1", port });
  const untouched = await Deno.connect({ hostname: "127.0.0.1", port: second });
  try {
    assertMatch(await get(modified), /server: one/);
    assertMatch(await get(untouched), /server: keep/);
    // Only 'http' changes (its server name); 'other' keeps its config.
    const next = initial.replace("server_name: one", "server_name: two");
    Deno.writeTextFileSync(p.configPath, next);
    const r = await curl(["-X", "POST", `http://127.0.0.1:${p.adminPort}/config_reload`]);
    assertEquals(r.out, "bootstrap reloaded: listener 'http'\n");
    const drained = await get(modified);
    assertMatch(drained, /server: one/);
    assertMatch(drained, /connection: close/i);
    const kept = await get(untouched);
    assertEquals(/connection: close/i.test(kept), false);
    assertMatch((await curl(["-i", `http://127.0.0.1:${port}/`])).out, /server: two/);
  } finally {
    modified.close();
    untouched.close();
    await p.stop();
    await a.close();
  }
});
