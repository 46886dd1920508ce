import { assertEquals } from "../../testing/assert.ts";
import { reasonPhrase } from "./reason_phrase.ts";

Deno.test("reason phrases match Envoy's, with Unknown for the rest", () => {
  assertEquals(reasonPhrase(200), "OK");
  assertEquals(reasonPhrase(100), "Continue");
  assertEquals(reasonPhrase(101), "Switching Protocols");
  assertEquals(reasonPhrase(413), "Payload Too Large");
  assertEquals(reasonPhrase(431), "Request Header Fields Too Large");
  assertEquals(reasonPhrase(503), "Service Unavailable");
  assertEquals(reasonPhrase(299), "Unknown");
  assertEquals(reasonPhrase(418), "Unknown");
});
