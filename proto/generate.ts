/**
 * `deno task proto`: generates the Envoy v3 API in `proto/gen/` from the protos shipped in the
 * npm package `@grpc/grpc-js-xds` (folder `deps/`), using buf and protoc-gen-es.
 *
 * The shipped tree does not compile as is; the fixes are deliberate and listed in
 * `patches.ts` (added fields, excluded folders) and `stubs/` (small protos written here for
 * imports that are not shipped). Usage: `deno run -A proto/generate.ts [--out DIR]`.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { API_INDEX, buildApiIndex, formatApiIndex } from "../src/config/api_index.ts";
import { EXCLUDED, PATCHES } from "./patches.ts";

/** File name of the binary FileDescriptorSet written next to the generated code. */
export const DESCRIPTOR_SET = "envoy_api.binpb";

const root = new URL("../", import.meta.url);
const here = new URL("./", import.meta.url);

/** Package specifiers pinned in deno.json, so the generator and the project agree. */
async function pinned(name: string): Promise<string> {
  const cfg = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const spec = cfg.imports?.[name];
  if (typeof spec !== "string") throw new Error(`deno.json imports has no "${name}"`);
  return spec;
}

async function run(cmd: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr);
    throw new Error(`${cmd.join(" ")} failed:\n${err}`);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const src = `${from}/${e.name}`;
    const dst = `${to}/${e.name}`;
    if (e.isDirectory) await copyTree(src, dst);
    else if (e.isFile && e.name.endsWith(".proto")) await Deno.copyFile(src, dst);
  }
}

async function walkDirs(dir: string, visit: (path: string) => Promise<void>): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (!e.isDirectory) continue;
    const p = `${dir}/${e.name}`;
    await visit(p);
    try {
      await Deno.stat(p);
      await walkDirs(p, visit);
    } catch { /* removed by visit */ }
  }
}

async function removeExcluded(tree: string): Promise<void> {
  for (const { path } of EXCLUDED) {
    if (path.startsWith("**/")) {
      const name = path.slice(3, -1);
      await walkDirs(tree, async (p) => {
        if (p.endsWith(`/${name}`)) await Deno.remove(p, { recursive: true });
      });
    } else {
      await Deno.remove(`${tree}/${path}`, { recursive: true });
    }
  }
}

/** Inserts a field declaration just before the closing brace of the named message. */
export function applyPatch(text: string, message: string, field: string): string {
  const re = new RegExp(`(^|\\n)\\s*message ${message} \\{`, "g");
  const hits = [...text.matchAll(re)];
  if (hits.length !== 1) {
    throw new Error(`message ${message} found ${hits.length} times, expected once`);
  }
  let depth = 0;
  for (let i = hits[0].index! + hits[0][0].length - 1; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) {
      const lineStart = text.lastIndexOf("\n", i) + 1;
      const indent = " ".repeat(i - lineStart + 2);
      return `${text.slice(0, lineStart)}${indent}${field}\n${text.slice(lineStart)}`;
    }
  }
  throw new Error(`message ${message}: no closing brace`);
}

/** Replaces the one occurrence of `from`; zero or several occurrences are an error. */
export function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(`patch text must occur exactly once: ${from}`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** Generates the API into `outDir` (replacing its contents). */
export async function generate(outDir: string): Promise<void> {
  const deno = Deno.execPath();
  await run([deno, "install"], root.pathname);
  const deps = new URL("node_modules/@grpc/grpc-js-xds/deps/", root).pathname;
  const tree = await Deno.makeTempDir({ prefix: "denvoy-proto-" });
  try {
    const src = `${tree}/src`;
    await copyTree(`${deps}envoy-api/envoy`, `${src}/envoy`);
    await copyTree(`${deps}xds/udpa`, `${src}/udpa`);
    await copyTree(`${deps}xds/xds`, `${src}/xds`);
    await copyTree(`${deps}googleapis/google`, `${src}/google`);
    await copyTree(`${deps}protoc-gen-validate/validate`, `${src}/validate`);
    await copyTree(new URL("stubs", here).pathname, src);
    await removeExcluded(src);
    for (const p of PATCHES) {
      const file = `${src}/${p.file}`;
      const text = await Deno.readTextFile(file);
      await Deno.writeTextFile(
        file,
        "message" in p
          ? applyPatch(text, p.message, p.field)
          : replaceOnce(text, p.replace, p.with),
      );
    }
    await Deno.writeTextFile(`${src}/buf.yaml`, "version: v2\n");
    const plugin = [deno, "run", "-A", await pinned("@bufbuild/protoc-gen-es")];
    await Deno.writeTextFile(
      `${src}/buf.gen.yaml`,
      [
        "version: v2",
        "plugins:",
        `  - local: ${JSON.stringify(plugin)}`,
        `    out: ${tree}/gen`,
        "    strategy: all",
        "    opt: [target=ts, import_extension=ts]",
        "",
      ].join("\n"),
    );
    const buf = [deno, "run", "-A", await pinned("@bufbuild/buf")];
    await run([...buf, "generate"], src);
    // The runtime loads this one descriptor set instead of importing hundreds of modules:
    // parsing the generated TypeScript costs ~650 ms at start, this set ~100 ms.
    await run(
      [...buf, "build", "--exclude-source-info", "-o", `${tree}/gen/${DESCRIPTOR_SET}`],
      src,
    );
    const set = fromBinary(
      FileDescriptorSetSchema,
      await Deno.readFile(`${tree}/gen/${DESCRIPTOR_SET}`),
    );
    await Deno.writeTextFile(`${tree}/gen/${API_INDEX}`, formatApiIndex(buildApiIndex(set)));
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(outDir, { recursive: true });
    await copyGenerated(`${tree}/gen`, outDir);
  } finally {
    await Deno.remove(tree, { recursive: true });
  }
}

async function copyGenerated(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyGenerated(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const out = i >= 0 ? Deno.args[i + 1] : new URL("gen", here).pathname;
  await generate(out);
  console.log(`generated Envoy v3 API into ${out}`);
}
