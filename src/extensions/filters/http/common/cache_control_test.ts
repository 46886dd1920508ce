import { assertEquals } from "../../../../testing/assert.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { hasCacheControlNoTransform } from "./cache_control.ts";

Deno.test("cache-control: no-transform is found among the directives, in any case", () => {
  const has = (v?: string) =>
    hasCacheControlNoTransform(new HeaderMap(v === undefined ? [] : ["cache-control", v]));
  assertEquals([has(), has("no-cache"), has("public, No-Transform"), has("no-transformx")], [
    false,
    false,
    true,
    false,
  ]);
});
