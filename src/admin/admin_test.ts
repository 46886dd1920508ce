import { assertEquals } from "../testing/assert.ts";
import { createAdminApp, type ServerState } from "./admin.ts";

Deno.test("/ready is 200 LIVE when live and 503 with the state otherwise", async () => {
  let state: ServerState = "INITIALIZING";
  const app = createAdminApp({ state: () => state });
  let res = await app.request("/ready");
  assertEquals([res.status, await res.text()], [503, "INITIALIZING\n"]);
  state = "LIVE";
  res = await app.request("/ready");
  assertEquals([res.status, await res.text()], [200, "LIVE\n"]);
});
