/**
 * `safe_regex` is safe: requests built to make a backtracking engine run for years against
 * catastrophic route, header, query and `regex_rewrite` patterns are answered at once, by every
 * worker, and other requests keep flowing meanwhile.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import {
  curl,
  httpConfig,
  parseResponse,
  Proxy,
  rawExchange,
  staticCluster,
  upstream,
} from "./proxy.ts";

const ROUTES = `- match: { safe_regex: { regex: "^/(a+)+$" } }
  direct_response: { status: 200, body: { inline_string: "path-regex" } }
- match:
    prefix: "/h"
    headers:
    - name: x-probe
      string_match: { safe_regex: { regex: "(x+x+)+y" } }
  direct_response: { status: 200, body: { inline_string: "header-regex" } }
- match:
    prefix: "/q"
    query_parameters:
    - name: v
      string_match: { safe_regex: { regex: "(a|a)*b" } }
  direct_response: { status: 200, body: { inline_string: "query-regex" } }
- match: { prefix: "/rw/" }
  route:
    cluster: backend
    regex_rewrite: { pattern: { regex: "(a|a)*c" }, substitution: "C" }
- match: { prefix: "/" }
  route: { cluster: backend }`;

/** One raw request on its own connection; the parsed response. */
async function get(port: number, target: string, headers = "") {
  const raw = await rawExchange(
    port,
    `GET ${target} HTTP/1.1\r\nhost: example.com\r\n${headers}connection: close\r\n\r\n`,
  );
  return parseResponse(raw);
}

Deno.test("catastrophic regexes on long requests are answered at once; other requests flow", async () => {
  const up = upstream((req) => new Response(`up ${new URL(req.url).pathname}`));
  const proxy = await Proxy.start(
    httpConfig({ routes: ROUTES, clusters: staticCluster("backend", up.port) }),
    ["--concurrency", "2"],
  );
  try {
    const port = proxy.port();
    const n = 20_000;
    const started = performance.now();
    // Several of each, so both workers get some; a backtracking engine needs seconds for 28
    // characters and would never answer these.
    const evil = [];
    for (let i = 0; i < 4; i++) {
      evil.push(get(port, `/${"a".repeat(n)}b`));
      evil.push(get(port, "/h", `x-probe: ${"x".repeat(n)}\r\n`));
      evil.push(get(port, `/q?v=${"a".repeat(n)}`));
      evil.push(get(port, `/rw/${"a".repeat(n)}`));
    }
    const good = [];
    for (let i = 0; i < 8; i++) good.push(curl([`http://127.0.0.1:${port}/ok${i}`]));
    const [evilRes, goodRes] = await Promise.all([Promise.all(evil), Promise.all(good)]);
    const ms = performance.now() - started;

    for (let i = 0; i < evilRes.length; i += 4) {
      // The near misses fall through to the catch-all route and reach the upstream.
      assertEquals(evilRes[i].status, 200);
      assertEquals(evilRes[i].body, `up /${"a".repeat(n)}b`);
      assertEquals(evilRes[i + 1].body, `up /h`);
      assertEquals(evilRes[i + 2].body, `up /q`);
      assertEquals(evilRes[i + 3].body, `up /rw/${"a".repeat(n)}`);
    }
    goodRes.forEach((r, i) => assertEquals(r.out, `up /ok${i}`));
    // Generous for a shared machine: each request needs milliseconds.
    assert(ms < 10_000, `took ${ms.toFixed(0)} ms`);

    // The same patterns still match what they should.
    assertEquals((await get(port, "/aaa")).body, "path-regex");
    assertEquals((await get(port, "/h", "x-probe: xxy\r\n")).body, "header-regex");
    assertEquals((await get(port, "/q?v=aab")).body, "query-regex");
    assertEquals((await get(port, "/rw/aac/ac")).body, "up /rw/C/C");
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("--mode validate refuses what RE2 refuses and a regex over google_re2.max_program_size", async () => {
  const bad = (regex: string, extra = "") =>
    httpConfig({
      routes: `- match: { safe_regex: { regex: ${JSON.stringify(regex)}${extra} } }
  direct_response: { status: 200 }`,
    });
  const backref = await runMain(["--mode", "validate", "-c", tempFile(bad("^/(a)\\1$"))]);
  assert(backref.code !== 0);
  assert(/invalid escape sequence: \\1 \(backreferences are not supported\)/.test(backref.stderr));
  const look = await runMain(["--mode", "validate", "-c", tempFile(bad("^/a(?=b)"))]);
  assert(look.code !== 0 && /lookahead is not supported/.test(look.stderr), look.stderr);
  const size = await runMain([
    "--mode",
    "validate",
    "-c",
    tempFile(bad("/asdf/.*/asdf/.*", ", google_re2: { max_program_size: 5 }")),
  ]);
  assert(size.code !== 0, size.stderr);
  assert(/RE2 program size of \d+ > max program size of 5\./.test(size.stderr), size.stderr);
  const fine = await runMain([
    "--mode",
    "validate",
    "-c",
    tempFile(bad("/asdf/.*/asdf/.*", ", google_re2: { max_program_size: 1000 }")),
  ]);
  assertEquals(fine.code, 0, fine.stderr);
});
