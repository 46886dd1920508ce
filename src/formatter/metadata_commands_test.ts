import { assertEquals } from "../testing/assert.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";
import type { Command } from "./format_parser.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

const si = new StreamInfo();
si.dynamicMetadata["com.test.my_filter"] = {
  test_key: "foo",
  count: 3,
  test_object: { inner_key: "bar", list: [1, "a"] },
};
si.filterState.set("envoy.string", "hello");
si.filterState.set("envoy.object", { a: 1, b: [true] });
si.filterState.set("envoy.custom", { serializeAsString: () => "custom-plain" });
si.filterState.set("envoy.fields", {
  getField: (n: string) => (n === "user" ? "alice" : undefined),
});
const ctx = { streamInfo: si };

function render(command: Command) {
  const p = createProvider(command);
  return { text: p.text(ctx), value: p.value(ctx) };
}

Deno.test("%DYNAMIC_METADATA(NS)% is the namespace as JSON", () => {
  assertEquals(
    render({ name: "DYNAMIC_METADATA", arg: "com.test.my_filter" }).text,
    '{"test_key":"foo","count":3,"test_object":{"inner_key":"bar","list":[1,"a"]}}',
  );
});

Deno.test("%DYNAMIC_METADATA(NS:KEY:...)% walks nested keys", () => {
  assertEquals(render({ name: "DYNAMIC_METADATA", arg: "com.test.my_filter:test_key" }), {
    text: "foo",
    value: "foo",
  });
  assertEquals(render({ name: "DYNAMIC_METADATA", arg: "com.test.my_filter:count" }), {
    text: "3",
    value: 3,
  });
  assertEquals(
    render({ name: "DYNAMIC_METADATA", arg: "com.test.my_filter:test_object:inner_key" }).text,
    "bar",
  );
  assertEquals(render({ name: "DYNAMIC_METADATA", arg: "com.test.my_filter:test_object" }).value, {
    inner_key: "bar",
    list: [1, "a"],
  });
});

Deno.test("%DYNAMIC_METADATA(...)% is unset for unknown namespaces and keys", () => {
  for (const arg of ["com.unknown", "com.test.my_filter:nope", "com.test.my_filter:test_key:x"]) {
    assertEquals(render({ name: "DYNAMIC_METADATA", arg }), { text: undefined, value: undefined });
  }
});

Deno.test("%DYNAMIC_METADATA(...):Z% truncates text only", () => {
  const r = render({
    name: "DYNAMIC_METADATA",
    arg: "com.test.my_filter:test_object",
    maxLength: 5,
  });
  assertEquals(r.text, '{"inn');
  assertEquals(r.value, { inner_key: "bar", list: [1, "a"] });
});

Deno.test("%FILTER_STATE(KEY)% is the object serialized as JSON (TYPED)", () => {
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.string" }), {
    text: '"hello"',
    value: "hello",
  });
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.object:TYPED" }), {
    text: '{"a":1,"b":[true]}',
    value: { a: 1, b: [true] },
  });
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.missing" }), {
    text: undefined,
    value: undefined,
  });
});

Deno.test("%FILTER_STATE(KEY:PLAIN)% is the object's plain string", () => {
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.string:PLAIN" }), {
    text: "hello",
    value: "hello",
  });
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.custom:PLAIN" }).text, "custom-plain");
  assertEquals(
    render({ name: "FILTER_STATE", arg: "envoy.object:PLAIN" }).value,
    '{"a":1,"b":[true]}',
  );
});

Deno.test("%FILTER_STATE(KEY):Z% truncates", () => {
  assertEquals(
    render({ name: "FILTER_STATE", arg: "envoy.string:PLAIN", maxLength: 2 }).text,
    "he",
  );
});

Deno.test("bad FILTER_STATE arguments are config errors", () => {
  assertEquals(
    errorOf(() => createProvider({ name: "FILTER_STATE", arg: ":PLAIN" })),
    "Invalid filter state configuration, key cannot be empty.",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "FILTER_STATE", arg: "k:JSON" })),
    "Invalid filter state serialize type, only support PLAIN/TYPED/FIELD.",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "FILTER_STATE", arg: "k:FIELD" })),
    "Invalid filter state serialize type, FIELD should be used with the field name.",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "FILTER_STATE", arg: "k:PLAIN:f" })),
    "Invalid filter state serialize type, FIELD should be used with the field name.",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "FILTER_STATE", arg: "" })),
    "Invalid filter state configuration, key cannot be empty.",
  );
});

Deno.test("%FILTER_STATE(KEY:FIELD:NAME)% reads one field, as a string", () => {
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.object:FIELD:a" }), {
    text: "1",
    value: "1",
  });
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.fields:FIELD:user", maxLength: 3 }), {
    text: "ali",
    value: "ali",
  });
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.object:FIELD:b" }).text, undefined);
  assertEquals(render({ name: "FILTER_STATE", arg: "envoy.missing:FIELD:a" }).value, undefined);
});

Deno.test("%UPSTREAM_FILTER_STATE(KEY)% reads upstream components' state", () => {
  const up = Object.assign(new StreamInfo(), {
    upstreamFilterState: new Map([["envoy.network.upstream", "u"]]),
  });
  const p = createProvider({ name: "UPSTREAM_FILTER_STATE", arg: "envoy.network.upstream:PLAIN" });
  assertEquals(p.text({ streamInfo: up }), "u");
  assertEquals(p.text({ streamInfo: new StreamInfo() }), undefined);
});

Deno.test("cluster, host, route, virtual host and listener metadata", () => {
  const m = (v: string) => ({ "envoy.lb": { tier: v, nested: { n: 1 } } });
  const info = Object.assign(new StreamInfo(), {
    upstreamClusterDescription: { name: "c", statName: "c", metadata: m("cluster") },
    upstreamHostDescription: { hostname: "", metadata: m("host") },
    route: {
      route: { name: "r", config: { metadata: { filterMetadata: m("route") } } },
      virtualHost: { config: { metadata: { filterMetadata: m("vhost") } } },
    } as unknown as StreamInfo["route"],
    filterChain: { name: "fc", metadata: m("chain"), listenerMetadata: m("listener") },
  });
  const c = { streamInfo: info };
  const text = (name: string, arg: string) => createProvider({ name, arg }).text(c);
  assertEquals(text("CLUSTER_METADATA", "envoy.lb:tier"), "cluster");
  assertEquals(text("UPSTREAM_METADATA", "envoy.lb:tier"), "host");
  assertEquals(text("UPSTREAM_METADATA", "envoy.lb"), '{"tier":"host","nested":{"n":1}}');
  assertEquals(text("METADATA", "DYNAMIC:com.test.my_filter:test_key"), undefined);
  assertEquals(text("METADATA", "CLUSTER:envoy.lb:tier"), "cluster");
  assertEquals(text("METADATA", "UPSTREAM_HOST:envoy.lb:nested:n"), "1");
  assertEquals(text("METADATA", "ROUTE:envoy.lb:tier"), "route");
  assertEquals(text("METADATA", "VIRTUAL_HOST:envoy.lb:tier"), "vhost");
  assertEquals(text("METADATA", "LISTENER:envoy.lb:tier"), "listener");
  assertEquals(text("METADATA", "LISTENER_FILTER_CHAIN:envoy.lb:tier"), "chain");
  assertEquals(createProvider({ name: "METADATA", arg: "ROUTE:envoy.lb" }).value(c), {
    tier: "route",
    nested: { n: 1 },
  });
  // A request that reached no cluster or host has no such metadata.
  const none = { streamInfo: new StreamInfo() };
  assertEquals(createProvider({ name: "CLUSTER_METADATA", arg: "envoy.lb" }).text(none), undefined);
  assertEquals(createProvider({ name: "METADATA", arg: "LISTENER:x" }).value(none), undefined);
});

Deno.test("bad METADATA arguments are config errors", () => {
  assertEquals(
    errorOf(() => createProvider({ name: "METADATA", arg: "SECRET:ns" })),
    "METADATA: unknown metadata type 'SECRET' (one of DYNAMIC, CLUSTER, UPSTREAM_HOST, ROUTE, " +
      "VIRTUAL_HOST, LISTENER, LISTENER_FILTER_CHAIN)",
  );
  assertEquals(
    errorOf(() => createProvider({ name: "METADATA", arg: "ROUTE" })),
    "METADATA: 'ROUTE' names no metadata namespace",
  );
});
