/**
 * The Envoy v3 API at run time: a registry of the generated messages, enums and extensions,
 * read from the descriptor set that `deno task proto` writes next to the generated code.
 * Loading the binary set is much cheaper at start-up than importing the generated modules;
 * those are used for their types only (`import type`).
 *
 * The registry is lazy: a lookup decodes only the file that declares the type, and its
 * imports (about 75 of ~450 files for a typical config), using the index written beside the
 * set (`api_index.ts`). Decoding the whole set cost ~250 ms of start-up CPU.
 */
import {
  createFileRegistry,
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type DescService,
  fromBinary,
  type Registry,
} from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Message } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { type ApiIndex, fileRanges } from "./api_index.ts";

type Desc = DescMessage | DescEnum | DescExtension | DescService;

/** A `Registry` over the descriptor set that decodes files on first use. */
export class LazyApiRegistry implements Registry {
  readonly kind = "registry";
  readonly #bytes: Uint8Array;
  readonly #index: ApiIndex;
  readonly #ranges: Array<[number, number]>;
  readonly #position: Map<string, number>;
  readonly #files = new Map<string, DescFile>();
  readonly #types = new Map<string, Desc>();
  #all = false;

  /** A registry over a serialized FileDescriptorSet and its index. */
  constructor(bytes: Uint8Array, index: ApiIndex) {
    this.#bytes = bytes;
    this.#index = index;
    this.#ranges = fileRanges(bytes);
    if (this.#ranges.length !== index.files.length) {
      throw new Error("API index does not match the descriptor set (run `deno task proto`)");
    }
    this.#position = new Map(index.files.map((f, i) => [f, i]));
  }

  #decode(name: string): FileDescriptorProto | undefined {
    const at = this.#position.get(name);
    if (at === undefined) return undefined;
    const [start, end] = this.#ranges[at];
    return fromBinary(FileDescriptorProtoSchema, this.#bytes.subarray(start, end));
  }

  /** Decodes the file at `at` of the index (and its imports first) unless already loaded. */
  #load(at: number): void {
    this.#loadFile(this.#index.files[at]);
  }

  // Imports are loaded depth first, so a file is built only once everything it imports is a
  // DescFile (createFileRegistry's own resolution orders diamond imports wrongly).
  #loadFile(name: string): DescFile {
    const hit = this.#files.get(name);
    if (hit) return hit;
    const proto = this.#decode(name);
    if (!proto) throw new Error(`Envoy API has no file ${name}`);
    for (const dep of proto.dependency) this.#loadFile(dep);
    const reg = createFileRegistry(proto, (dep) => this.#leaf(dep));
    const file = reg.getFile(name)!;
    this.#files.set(name, file);
    for (const t of nestedTypes(file)) this.#types.set(t.typeName, t);
    return file;
  }

  readonly #leaves = new Map<string, DescFile>();

  /**
   * A loaded file as seen by a file that imports it: the same descriptors, without its own
   * imports. createFileRegistry adds a resolved file's whole import tree (again for every
   * path to it) to a throwaway registry; a file only refers to types of its direct imports
   * and of what they `import public`, so only those are kept.
   */
  #leaf(name: string): DescFile | undefined {
    let leaf = this.#leaves.get(name);
    if (!leaf) {
      const file = this.#files.get(name);
      if (!file) return undefined;
      const pub = file.proto.publicDependency.map((i) => this.#leaf(file.proto.dependency[i])!);
      leaf = Object.create(file, { dependencies: { value: pub } }) as DescFile;
      this.#leaves.set(name, leaf);
    }
    return leaf;
  }

  get(typeName: string): Desc | undefined {
    const hit = this.#types.get(typeName);
    if (hit) return hit;
    const at = this.#index.types[typeName];
    if (at === undefined) return undefined;
    this.#load(at);
    return this.#types.get(typeName);
  }

  getMessage(typeName: string): DescMessage | undefined {
    const t = this.get(typeName);
    return t?.kind === "message" ? t : undefined;
  }

  getEnum(typeName: string): DescEnum | undefined {
    const t = this.get(typeName);
    return t?.kind === "enum" ? t : undefined;
  }

  getExtension(typeName: string): DescExtension | undefined {
    const t = this.get(typeName);
    return t?.kind === "extension" ? t : undefined;
  }

  getExtensionFor(extendee: DescMessage, no: number): DescExtension | undefined {
    const at = this.#index.extensions[`${extendee.typeName}:${no}`];
    if (at === undefined) return undefined;
    this.#load(at);
    for (const t of this.#types.values()) {
      if (t.kind === "extension" && t.number === no && t.extendee.typeName === extendee.typeName) {
        return t;
      }
    }
    return undefined;
  }

  getService(typeName: string): DescService | undefined {
    const t = this.get(typeName);
    return t?.kind === "service" ? t : undefined;
  }

  /** Every type of the API (decodes every file). */
  [Symbol.iterator](): IterableIterator<Desc> {
    if (!this.#all) {
      for (let i = 0; i < this.#index.files.length; i++) this.#load(i);
      this.#all = true;
    }
    return this.#types.values();
  }

  /** How many files have been decoded so far (for tests and start-up diagnostics). */
  get loadedFiles(): number {
    return this.#files.size;
  }
}

let registry: LazyApiRegistry | undefined;

/**
 * Gives the API from memory rather than from `proto/gen/`: the bundle (`deno task bundle`)
 * carries the descriptor set inside itself, so it runs without the source tree.
 */
export function provideApiDescriptors(bytes: Uint8Array, index: ApiIndex): void {
  registry = new LazyApiRegistry(bytes, index);
}

/** The registry of every type of the Envoy v3 API (and its dependencies). */
export function apiRegistry(): LazyApiRegistry {
  if (!registry) {
    const dir = new URL("../../proto/gen/", import.meta.url);
    registry = new LazyApiRegistry(
      Deno.readFileSync(new URL("envoy_api.binpb", dir)),
      JSON.parse(Deno.readTextFileSync(new URL("envoy_api.index.json", dir))),
    );
  }
  return registry;
}

/** Looks up a message type by full name; throws if the API has no such type. */
export function messageSchema<T extends Message>(typeName: string): GenMessage<T> {
  const desc = apiRegistry().getMessage(typeName);
  if (!desc) throw new Error(`Envoy API has no message type ${typeName}`);
  return desc as unknown as GenMessage<T>;
}

/**
 * Looks up a service by full name, typed as its generated descriptor (`typeof XService`, a type
 * import: the generated module itself is never loaded); throws if the API has no such service.
 */
export function serviceDesc<S>(typeName: string): S {
  const desc = apiRegistry().getService(typeName);
  if (!desc) throw new Error(`Envoy API has no service ${typeName}`);
  return desc as unknown as S;
}

/** The full message name in a type URL such as `type.googleapis.com/envoy.x.v3.Y`. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/** The message descriptor for a type URL, or undefined when the API does not know it. */
export function messageOfUrl(typeUrl: string): DescMessage | undefined {
  return apiRegistry().getMessage(typeNameOfUrl(typeUrl));
}
