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
    await proc.waitFor(/all listeners ready: .*\(2 workers\)\n/);
    const port = Number(/'http' on port (\d+)/.exec(proc.stderr)![1]);
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
