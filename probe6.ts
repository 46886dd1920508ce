import jsyaml from "npm:js-yaml@4.1.0";
const text = Deno.readTextFileSync("/tmp/big.yaml");
for (let i = 0; i < 3; i++) {
const t0 = performance.now();
const v = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA });
const t1 = performance.now();
console.log("js-yaml core", t1 - t0, typeof v);
}
const t2 = performance.now();
JSON.parse(JSON.stringify(jsyaml.load(text)));
console.log("json", performance.now() - t2);
