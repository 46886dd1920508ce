import { assert, assertEquals } from "../testing/assert.ts";
import { checkTerminalOrder, type ExtensionFactory, ExtensionRegistry } from "./extensions.ts";

const router: ExtensionFactory = {
  name: "envoy.filters.http.router",
  aliases: ["envoy.router"],
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.router.v3.Router"],
  terminal: true,
};
const cors: ExtensionFactory = {
  name: "envoy.filters.http.cors",
  category: "envoy.filters.http",
  configTypes: ["envoy.extensions.filters.http.cors.v3.Cors"],
  perRouteConfigTypes: ["envoy.extensions.filters.http.cors.v3.CorsPolicy"],
};

Deno.test("factories are found by config type, per-route type, name and alias", () => {
  const reg = new ExtensionRegistry();
  reg.register(router);
  reg.register(cors);
  assertEquals(reg.byType("envoy.extensions.filters.http.router.v3.Router"), router);
  assertEquals(reg.byType("envoy.extensions.filters.http.cors.v3.CorsPolicy"), cors);
  assertEquals(reg.byName("envoy.router"), router);
  assertEquals(reg.byName("nope"), undefined);
  assertEquals(reg.all().length, 2);
});

Deno.test("registering a type or name twice is refused", () => {
  const reg = new ExtensionRegistry();
  reg.register(router);
  let threw = false;
  try {
    reg.register({ ...cors, aliases: ["envoy.router"] });
  } catch {
    threw = true;
  }
  assert(threw);
});

Deno.test("terminal filters must come last, and the last filter must be terminal", () => {
  const reg = new ExtensionRegistry();
  reg.register(router);
  reg.register(cors);
  const errors: string[] = [];
  const report = (i: number, m: string) => errors.push(`${i}: ${m}`);
  checkTerminalOrder(
    reg,
    [{ name: "envoy.filters.http.cors" }, { name: "envoy.router" }],
    "http",
    report,
  );
  assertEquals(errors, []);
  checkTerminalOrder(
    reg,
    [{ name: "envoy.router" }, { name: "envoy.filters.http.cors" }],
    "http",
    report,
  );
  assertEquals(errors, [
    "0: terminal filter 'envoy.router' (envoy.filters.http.router) must be the last filter in a http filter chain",
    "1: non-terminal filter 'envoy.filters.http.cors' (envoy.filters.http.cors) is the last filter in a http filter chain",
  ]);
});
