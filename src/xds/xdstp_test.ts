import { assertEquals, assertMatch } from "../testing/assert.ts";
import {
  decodeXdstpLocator,
  decodeXdstpName,
  encodeXdstpName,
  globCollectionOf,
  normalName,
  watchWants,
} from "./xdstp.ts";

const L = "envoy.config.listener.v3.Listener";

/** The message `f` throws. */
function thrown(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

Deno.test("xdstp: a name decodes into authority, type, id and context params", () => {
  assertEquals(decodeXdstpName(`xdstp://cp.example/${L}/foo/bar?b=2&a=1`), {
    authority: "cp.example",
    resourceType: L,
    id: "foo/bar",
    context: [["b", "2"], ["a", "1"]],
  });
  assertEquals(decodeXdstpName(`xdstp:///${L}`).id, "");
  assertMatch(thrown(() => decodeXdstpName("xdstp://a/")), /Resource type missing from \//);
  assertMatch(thrown(() => decodeXdstpName("foo")), /does not have an xdstp: scheme/);
});

Deno.test("xdstp: the normal form sorts context params and keeps percent-encoding stable", () => {
  assertEquals(normalName(`xdstp://a/${L}/x?b=2&a=1`), `xdstp://a/${L}/x?a=1&b=2`);
  assertEquals(normalName(`xdstp://a%2Fb/${L}/x%3Ay`), `xdstp://a%2Fb/${L}/x%3Ay`);
  assertEquals(decodeXdstpName(`xdstp://a/${L}/x%3Ay`).id, "x:y");
  assertEquals(normalName("plain"), "plain");
  assertEquals(
    encodeXdstpName({ authority: "", resourceType: L, id: "a b", context: [["k", "v&w"]] }),
    `xdstp:///${L}/a b?k=v%26w`,
  );
});

Deno.test("xdstp: a resource belongs to the glob collection of its path", () => {
  assertEquals(globCollectionOf(`xdstp://a/${L}/foo/bar?z=1`), `xdstp://a/${L}/foo/*?z=1`);
  assertEquals(globCollectionOf(`xdstp://a/${L}/bar`), `xdstp://a/${L}/*`);
  assertEquals(globCollectionOf("bar"), undefined);
  const names = [`xdstp://a/${L}/foo/*`, `xdstp://a/${L}/one?a=1&b=2`, "plain"];
  assertEquals(watchWants(names, `xdstp://a/${L}/foo/x`), true);
  assertEquals(watchWants(names, `xdstp://a/${L}/foo/x/y`), false);
  assertEquals(watchWants(names, `xdstp://b/${L}/foo/x`), false);
  assertEquals(watchWants(names, `xdstp://a/${L}/one?b=2&a=1`), true);
  assertEquals(watchWants(names, "plain"), true);
  assertEquals(watchWants(names, "other"), false);
});

Deno.test("xdstp: locators carry a scheme and directives; unknown ones are errors", () => {
  const l = decodeXdstpLocator(`xdstp://a/${L}/foo/*?x=1#entry=e`);
  assertEquals([l.scheme, l.authority, l.resourceType, l.id, l.context, l.directives], [
    "xdstp",
    "a",
    L,
    "foo/*",
    [["x", "1"]],
    ["entry=e"],
  ]);
  assertEquals(decodeXdstpLocator("file:///etc/lds.yaml").id, "etc/lds.yaml");
  assertEquals(decodeXdstpLocator(`http://a/${L}/*`).scheme, "http");
  assertMatch(thrown(() => decodeXdstpLocator("ftp://a/b/c")), /does not have a xdstp:, http:/);
  assertMatch(thrown(() => decodeXdstpLocator(`xdstp://a/${L}/*#x=1`)), /Unknown fragment/);
});
