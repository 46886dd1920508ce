import { assertEquals } from "../testing/assert.ts";
import { substituteEnv, type UnsetVariable } from "./env_substitution.ts";

const ENV: Record<string, string> = { HOST: "10.0.0.1", PORT: "8080", EMPTY: "" };
const env = (n: string) => ENV[n];

Deno.test("${NAME}, ${NAME:-default} and the $${ escape, in values at any depth", () => {
  const unset: UnsetVariable[] = [];
  const out = substituteEnv(
    {
      a: "${HOST}:${PORT}",
      b: ["${MISSING:-fallback}", "${EMPTY:-used for empty too}", "${EMPTY}"],
      c: { "${HOST}": "$${HOST} stays", n: 5, t: true, z: null },
    },
    env,
    unset,
  );
  assertEquals(out, {
    a: "10.0.0.1:8080",
    b: ["fallback", "used for empty too", ""],
    c: { "${HOST}": "${HOST} stays", n: 5, t: true, z: null },
  });
  assertEquals(unset, []);
});

Deno.test("variables neither set nor defaulted are reported with their value's path", () => {
  const unset: UnsetVariable[] = [];
  const out = substituteEnv(
    { static_resources: { listeners: [{ name: "l-${NOPE}", "a.b": "${ALSO_NOPE}" }] } },
    env,
    unset,
  );
  assertEquals(unset, [
    { name: "NOPE", path: "static_resources.listeners[0].name" },
    { name: "ALSO_NOPE", path: 'static_resources.listeners[0]["a.b"]' },
  ]);
  // The text stays as written, so later checks show what was not substituted.
  assertEquals(
    (out as { static_resources: { listeners: { name: string }[] } }).static_resources
      .listeners[0].name,
    "l-${NOPE}",
  );
});
