/**
 * Which fields of each config message denvoy implements. Every message type the server reads
 * declares its implemented fields next to the code that reads them (a `*_fields.ts` module, or
 * an extension factory's `fields`); all declarations meet in one {@linkcode FieldSupport},
 * keyed by full message type name. The loader refuses any other field that a config sets
 * (`field 'x' is not supported yet`), so a config denvoy accepts never has a field it ignores.
 *
 * A type that nothing declares is refused as a whole: each of its set fields is reported. A
 * test walks every type reachable from the bootstrap through implemented fields and registered
 * extensions, so no reachable type is left undeclared by mistake.
 */

/** Field names (proto names) by full message type name. */
export type FieldDeclarations = Readonly<Record<string, readonly string[]>>;

/** What one module declares about the messages it reads. */
export interface FieldTable {
  /** Fields the code implements as Envoy documents them. */
  implemented: FieldDeclarations;
  /**
   * Fields the code reads only to refuse them (or the values it lacks) with a message of its
   * own, e.g. `cluster type EDS is not supported yet`. The field check lets them through and
   * does not look inside them: the specific check reports them, in `--mode validate` too.
   */
  checked?: FieldDeclarations;
}

/**
 * Well-known types whose whole value is data (durations, wrappers, Struct, ...): they have no
 * fields of their own that could be ignored.
 */
export function isLeafType(typeName: string): boolean {
  return typeName.startsWith("google.protobuf.");
}

/** The registry of implemented fields. */
export class FieldSupport {
  readonly #fields = new Map<string, Set<string>>();
  readonly #checked = new Map<string, Set<string>>();
  /** Counts declarations, so answers cached by the walk are dropped when a table is added. */
  #generation = 0;

  constructor(tables: readonly FieldTable[] = []) {
    for (const t of tables) this.declare(t);
  }

  /** Adds a module's declarations; a type declared twice gets the union (shared messages). */
  declare(table: FieldTable): void {
    this.#generation++;
    this.#add(this.#fields, table.implemented);
    if (table.checked) {
      this.#add(this.#checked, table.checked);
      // A type whose fields are all checked is still declared.
      for (const t of Object.keys(table.checked)) {
        if (!this.#fields.has(t)) this.#fields.set(t, new Set());
      }
    }
  }

  #add(into: Map<string, Set<string>>, decls: FieldDeclarations): void {
    for (const [typeName, names] of Object.entries(decls)) {
      let set = into.get(typeName);
      if (!set) into.set(typeName, set = new Set());
      for (const n of names) set.add(n);
    }
  }

  /** The implemented fields of `typeName`, or undefined when nothing declares the type. */
  fields(typeName: string): ReadonlySet<string> | undefined {
    return this.#fields.get(typeName);
  }

  /** Whether field `name` of `typeName` is implemented or left to a specific check. */
  supports(typeName: string, name: string): boolean {
    return (this.#fields.get(typeName)?.has(name) ?? false) || this.isChecked(typeName, name);
  }

  /** Whether field `name` of `typeName` is read only by a specific check (see FieldTable). */
  isChecked(typeName: string, name: string): boolean {
    return this.#checked.get(typeName)?.has(name) ?? false;
  }

  /** Changes whenever a table is declared. */
  get generation(): number {
    return this.#generation;
  }

  /** Every declared type name. */
  types(): string[] {
    return [...this.#fields.keys()];
  }
}
