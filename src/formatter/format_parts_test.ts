import { assertEquals } from "../testing/assert.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { compileParts, renderParts } from "./format_parts.ts";

Deno.test("a format compiles to literals and providers, rendered in order", () => {
  const parts = compileParts("code=%RESPONSE_CODE% route=%ROUTE_NAME%;");
  assertEquals(parts.length, 5);
  assertEquals(parts[0], "code=");
  const streamInfo = Object.assign(new StreamInfo(), { responseCode: 503 });
  assertEquals(renderParts(parts, { streamInfo }, "?"), "code=503 route=?;");
});
