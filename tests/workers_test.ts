/** Worker isolates: `--concurrency N` workers share every listener (SO_REUSEPORT). */
import { assertEquals } from "../src/testing/assert.ts";
import { ServerProcess, tempFile } from "./helpers.ts";
import { httpConfig, parseResponse, rawExchange, staticCluster, upstream } from "./proxy.ts";

Deno.test("--concurrency 2: two workers serve one listener; shutdown is clean", async () => {
  const up = upstream(() => new Response("from upstream"));
  const path = tempFile(httpConfig({
    routes: `- match: { prefix: "/" }\n  route: { cluster: backend }`,
    clusters: staticCluster("backend", up.port),
  }));
  const proc = new ServerProcess(["-c", path, "--concurrency", "2"]);
  try {
    // Worker 0 serves first (start-up time); the other joins the listener right after.
    await proc.waitFor(/all listeners ready: .*\(worker 0 serving, 1 more starting\)\n/);
    const port = Number(/'http' on port (\d+)/.exec(proc.stderr)![1]);
    const first = parseResponse(
      await rawExchange(port, "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"),
    );
    assertEquals([first.status, first.body], [200, "from upstream"]);
    await proc.waitFor(/all 2 workers serving\n/);
    const answers = await Promise.all(
      Array.from(
        { length: 24 },
        () => rawExchange(port, "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"),
      ),
    );
    for (const a of answers) {
      const r = parseResponse(a);
      assertEquals([r.status, r.body], [200, "from upstream"]);
    }
  } finally {
    const status = await proc.stop();
    await up.close();
    assertEquals(status.code, 0, proc.stderr);
  }
});
