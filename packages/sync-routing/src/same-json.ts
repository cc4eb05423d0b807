/**
 * Whether two values serialize to the same JSON: `JSON.stringify(a) === JSON.stringify(b)`,
 * without building either string when the values are plain JSON data (what user properties
 * are). Anything else (undefined members, non-finite numbers, objects with a prototype or
 * `toJSON`) is compared by serializing that part, so the answer is always the one of the strings.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  const plain = samePlainJson(a, b);
  return plain !== undefined ? plain : JSON.stringify(a) === JSON.stringify(b);
}

/** true/false when decided on plain data, undefined when a value needs JSON's own rules. */
function samePlainJson(a: unknown, b: unknown): boolean | undefined {
  if (a === b) {
    // Same primitive or same object: same JSON (a non-finite number is still equal to itself).
    return true;
  }
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'string' || ta === 'boolean') {
    if (tb === 'string' || tb === 'boolean' || (tb === 'number' && Number.isFinite(b)) || b === null) return false;
    return undefined;
  }
  if (ta === 'number') {
    if (!Number.isFinite(a)) return undefined;
    if (tb === 'string' || tb === 'boolean' || (tb === 'number' && Number.isFinite(b)) || b === null) return false;
    return undefined;
  }
  if (a === null) {
    if (tb === 'string' || tb === 'boolean' || (tb === 'number' && Number.isFinite(b))) return false;
    if (tb === 'object' && b !== null && isPlain(b as object)) return false;
    return undefined;
  }
  if (ta !== 'object' || tb !== 'object' || b === null) return undefined;
  const oa = a as object;
  const ob = b as object;
  const arrayA = Array.isArray(oa);
  const arrayB = Array.isArray(ob);
  if (arrayA !== arrayB) return isPlain(oa) && isPlain(ob) ? false : undefined;
  if (arrayA) {
    const xa = oa as unknown[];
    const xb = ob as unknown[];
    // One entry per element (undefined as null): another count is another string.
    if (xa.length !== xb.length) return isPlain(xa) && isPlain(xb) ? false : undefined;
    for (let i = 0; i < xa.length; i++) {
      const same = samePlainJson(xa[i], xb[i]);
      if (same !== true) return same;
    }
    return true;
  }
  if (!isPlain(oa) || !isPlain(ob)) return undefined;
  const ka = Object.keys(oa);
  const kb = Object.keys(ob);
  if (ka.length !== kb.length) return undefined;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return undefined;
    const same = samePlainJson((oa as Record<string, unknown>)[ka[i]!], (ob as Record<string, unknown>)[kb[i]!]);
    if (same !== true) return same;
  }
  return true;
}

/** A plain object or array: its JSON is its members' (no toJSON, no other prototype). */
function isPlain(o: object): boolean {
  const proto = Object.getPrototypeOf(o) as unknown;
  return (proto === Object.prototype || proto === null || proto === Array.prototype) && typeof (o as { toJSON?: unknown }).toJSON !== 'function';
}
