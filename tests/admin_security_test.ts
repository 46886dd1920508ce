/**
 * The admin's opt-in hardening end to end (beyond Envoy): a bearer token, an allow-list of
 * endpoints, a read-only mode, HTTPS with client certificates (mutual TLS), and the warning
 * for an admin other hosts can reach; with the real main.ts and curl.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import { curl, httpConfig, Proxy } from "./proxy.ts";
import { testCerts } from "./tls_certs.ts";

const CONFIG = httpConfig({
  routes:
    `- match: { prefix: "/" }\n  direct_response: { status: 200, body: { inline_string: ok } }`,
});

/** Status and body of an admin request. */
async function admin(port: number, path: string, args: string[] = []) {
  const r = await curl(["-w", "\n%{http_code}", ...args, `http://127.0.0.1:${port}${path}`]);
  const i = r.out.lastIndexOf("\n");
  return { status: Number(r.out.slice(i + 1)), body: r.out.slice(0, i) };
}

Deno.test("--admin-token-file: 401 without the bearer token, served with it", async () => {
  const token = tempFile("t0ken-123\n", ".token");
  const p = await Proxy.start(CONFIG, ["--admin-token-file", token]);
  try {
    const none = await admin(p.adminPort, "/stats", ["-i"]);
    assertEquals(none.status, 401);
    assertMatch(none.body, /www-authenticate: Bearer realm="denvoy admin"/i);
    assertEquals(
      (await admin(p.adminPort, "/ready", ["-H", "Authorization: Bearer nope"])).status,
      401,
    );
    const ok = await admin(p.adminPort, "/ready", ["-H", "Authorization: Bearer t0ken-123"]);
    assertEquals([ok.status, ok.body], [200, "LIVE\n"]);
  } finally {
    await p.stop();
  }
});

Deno.test("--admin-allow: only the listed endpoints are served", async () => {
  const p = await Proxy.start(CONFIG, ["--admin-allow", "GET:/ready,GET:/stats"]);
  try {
    assertEquals((await admin(p.adminPort, "/ready")).status, 200);
    assertEquals((await admin(p.adminPort, "/stats")).status, 200);
    const clusters = await admin(p.adminPort, "/clusters");
    assertEquals(clusters, {
      status: 403,
      body: "admin: GET /clusters is not allowed (--admin-allow)\n",
    });
    assertEquals((await admin(p.adminPort, "/quitquitquit", ["-X", "POST"])).status, 403);
    // Still running.
    assertEquals((await admin(p.adminPort, "/ready")).status, 200);
  } finally {
    await p.stop();
  }
});

Deno.test("--admin-read-only: endpoints that change the server answer 403", async () => {
  const p = await Proxy.start(CONFIG, ["--admin-read-only"]);
  try {
    for (
      const path of [
        "/healthcheck/fail",
        "/quitquitquit",
        "/reset_counters",
        "/logging?level=debug",
      ]
    ) {
      const r = await admin(p.adminPort, path, ["-X", "POST"]);
      assertEquals(r.status, 403, path);
      assertMatch(r.body, /admin is read-only \(--admin-read-only\)/);
    }
    assertEquals((await admin(p.adminPort, "/ready")).body, "LIVE\n");
    assertEquals((await admin(p.adminPort, "/logging")).status, 200);
    assertEquals(
      (await admin(p.adminPort, "/stats?filter=^server.state$")).body,
      "server.state: 0\n",
    );
  } finally {
    await p.stop();
  }
});

Deno.test("an admin on a non-loopback address is warned about at start-up", async () => {
  const exposed = await Proxy.start(CONFIG.replace(
    "admin:\n  address: { socket_address: { address: 127.0.0.1,",
    "admin:\n  address: { socket_address: { address: 0.0.0.0,",
  ));
  const log = await exposed.stop();
  assertMatch(
    log,
    /\[warning\]\[main\] admin listens on 0\.0\.0\.0, which other hosts can reach: anyone who connects/,
  );
  const local = await Proxy.start(CONFIG);
  assert(!/admin listens on/.test(await local.stop()));
});

Deno.test("bad admin flags fail start-up with the reason", async () => {
  const bad = await runMain(["--config-yaml", "{}", "--admin-allow", "GET/stats"]);
  assertEquals(bad.code, 1);
  assertMatch(bad.stderr, /invalid --admin-allow entry 'GET\/stats'/);
  const empty = tempFile("", ".token");
  const path = tempFile(CONFIG);
  const r = await runMain(["-c", path, "--admin-token-file", empty]);
  assertEquals(r.code, 1);
  assertMatch(r.stderr, new RegExp(`--admin-token-file '${empty}' is empty`));
});

Deno.test("--admin-tls-cert/-key/-client-ca: the admin over mutual TLS; no certificate, another CA's and plaintext are refused", async () => {
  const c = await testCerts();
  const p = await Proxy.start(CONFIG, [
    "--admin-tls-cert",
    c.serverChain,
    "--admin-tls-key",
    c.serverKey,
    "--admin-tls-client-ca",
    c.caCert,
  ]);
  const https = (args: string[]) =>
    curl([
      "-w",
      "\n%{http_code}",
      "--cacert",
      c.caCert,
      ...args,
      `https://127.0.0.1:${p.adminPort}/ready`,
    ]);
  try {
    const ok = await https(["--cert", c.clientCert, "--key", c.clientKey]);
    assertEquals([ok.code, ok.out], [0, "LIVE\n\n200"], ok.err);
    for (
      const refused of [
        await https([]),
        await https(["--cert", c.otherCaClientCert, "--key", c.otherCaClientKey]),
      ]
    ) {
      assert(refused.code !== 0, refused.out);
      assert(!refused.out.includes("LIVE"), refused.out);
    }
    const plain = await curl([`http://127.0.0.1:${p.adminPort}/ready`]);
    assert(!plain.out.includes("LIVE"), plain.out);
    // The data path is untouched.
    assertEquals((await curl([`http://127.0.0.1:${p.port()}/`])).out, "ok");
    const stats = await curl([
      "--cacert",
      c.caCert,
      "--cert",
      c.clientCert,
      "--key",
      c.clientKey,
      `https://127.0.0.1:${p.adminPort}/stats?format=json`,
    ]);
    const counters: Record<string, number> = {};
    for (const s of JSON.parse(stats.out).stats) if ("value" in s) counters[s.name] = s.value;
    assertEquals(
      [
        counters["listener.admin.ssl.handshake"],
        counters["listener.admin.ssl.fail_verify_no_cert"],
        counters["listener.admin.ssl.fail_verify_error"],
      ],
      [2, 1, 1],
    );
    // The plaintext request is no TLS handshake.
    assertEquals(counters["listener.admin.ssl.connection_error"], 1);
  } finally {
    await p.stop();
  }
});
