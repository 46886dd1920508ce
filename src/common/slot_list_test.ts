import { assertEquals } from "../testing/assert.ts";
import { SlotList } from "./slot_list.ts";

Deno.test("slot list: add, remove in any order, no duplicates, snapshot iteration", () => {
  const items = Array.from({ length: 5 }, (_, id) => ({ id, slot: -1 }));
  const l = new SlotList<(typeof items)[0]>();
  for (const it of items) l.add(it);
  l.add(items[2]);
  assertEquals(l.size, 5);
  l.remove(items[1]);
  l.remove(items[1]);
  l.remove(items[4]);
  assertEquals(l.size, 3);
  assertEquals(l.toArray().map((x) => x.id).sort(), [0, 2, 3]);
  for (const it of l.toArray()) l.remove(it);
  assertEquals(l.size, 0);
  assertEquals(items.every((x) => x.slot === -1), true);
  l.add(items[3]);
  assertEquals(l.toArray().map((x) => x.id), [3]);
});
