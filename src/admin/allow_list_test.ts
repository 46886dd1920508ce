import { assertEquals, assertMatch } from "../testing/assert.ts";
import { parseAdminAllow } from "./allow_list.ts";

Deno.test("--admin-allow entries: METHOD:/path, comma-separated and repeatable", () => {
  assertEquals(parseAdminAllow(["GET:/stats,post:/healthcheck/fail", "*:/ready"]), [
    { method: "GET", path: "/stats" },
    { method: "POST", path: "/healthcheck/fail" },
    { method: "*", path: "/ready" },
  ]);
  for (const bad of ["/stats", "GET/stats", "PUT:/stats", "GET:stats"]) {
    let msg = "";
    try {
      parseAdminAllow([bad]);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, new RegExp(`invalid --admin-allow entry '${bad}'`));
  }
});
