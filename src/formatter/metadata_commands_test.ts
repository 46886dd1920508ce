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
    "Invalid filter state serialize type, only support PLAIN/TYPED.",
  );
});
