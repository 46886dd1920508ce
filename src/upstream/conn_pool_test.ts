import { assertEquals } from "../testing/assert.ts";
import { connectFailureReason } from "./conn_pool.ts";

Deno.test("connectFailureReason: Envoy's `delayed connect error: <errno>`", () => {
  assertEquals(
    connectFailureReason(new Error("Connection refused (os error 111)")),
    "delayed connect error: 111",
  );
  assertEquals(
    connectFailureReason(new Error("No route to host (os error 113)")),
    "delayed connect error: 113",
  );
  assertEquals(connectFailureReason(new Error("dns error")), "dns error");
});
