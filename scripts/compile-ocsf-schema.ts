/**
 * Compiles, from a checkout of the official OCSF schema (github.com/ocsf/ocsf-schema), the
 * classes Portcullis writes and every object they reach into one JSON file that
 * test/audit/ocsf-schema.test.ts validates our events against, so CI checks the official
 * definitions, not our reading of them. Run by hand when moving to another OCSF version:
 *
 *   git clone --branch v1.1.0 https://github.com/ocsf/ocsf-schema /tmp/ocsf-schema
 *   node --import tsx scripts/compile-ocsf-schema.ts /tmp/ocsf-schema
 *
 * It resolves what the OCSF server resolves: `$include` (includes/ and profiles/, whose
 * attributes keep their profile), `extends` of classes and objects (the child's attribute
 * definitions deep-merged over the parent's, its `constraints` replacing the parent's when
 * it has any), the dictionary's attribute definitions under each class's or object's own,
 * the dictionary's data types down to their primitive base, and the class, category and
 * type_uid enums the server derives (class_uid = category uid * 1000 + class uid).
 * Writes vendor/ocsf-schema/ocsf-schema.json and SOURCE.md with the tag and commit it came
 * from, and the schema's LICENSE and NOTICE beside them (Apache-2.0).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OCSF_CLASS_NAMES } from '../clients/audit/ocsf.js';
import type { CompiledOcsfSchema, OcsfAttribute, OcsfClass, OcsfConstraints, OcsfShape, OcsfType } from '../clients/audit/ocsf-validate.js';

type Json = Record<string, unknown>;
interface Definition {
  name: string;
  caption: string;
  extends?: string;
  category?: string;
  uid?: number;
  attributes: Json;
  constraints?: OcsfConstraints;
}

const OUT = 'vendor/ocsf-schema';
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The child wins, objects merge key by key (how enums of an include, a parent and a class combine). */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over === undefined ? base : over;
  const merged: Json = { ...base };
  for (const [key, value] of Object.entries(over)) merged[key] = deepMerge(base[key], value);
  return merged;
}

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? jsonFiles(path) : entry.endsWith('.json') ? [path] : [];
  });
}

function git(root: string, ...args: string[]): string {
  return execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
}

function compile(root: string, classNames: readonly string[]): CompiledOcsfSchema {
  const dictionary = readJson(join(root, 'dictionary.json'));
  const dictionaryAttributes = dictionary.attributes as Record<string, Json>;
  const categories = (readJson(join(root, 'categories.json')).attributes ?? {}) as Record<string, { uid: number; caption: string }>;
  const byName = (dir: string) => new Map(jsonFiles(join(root, dir)).map((path) => [(readJson(path) as unknown as Definition).name, readJson(path) as unknown as Definition]));
  const events = byName('events');
  const objects = byName('objects');
  const profiles = new Set<string>();

  /** A definition's own attributes with its `$include`s under them; a profile's attributes are marked as the profile's. */
  const ownAttributes = (definition: Definition): Json => {
    const { $include: includes, ...own } = definition.attributes as Json & { $include?: string | string[] };
    let merged: Json = {};
    for (const path of [includes ?? []].flat()) {
      const included = readJson(join(root, path));
      const profile = included.meta === 'profile' ? String(included.name) : undefined;
      if (profile) profiles.add(profile);
      for (const [name, attribute] of Object.entries((included.attributes ?? {}) as Json)) {
        merged[name] = deepMerge(merged[name], { ...(attribute as Json), ...(profile ? { profile } : {}) });
      }
    }
    merged = deepMerge(merged, own) as Json;
    return merged;
  };

  interface Resolved {
    attributes: Json;
    constraints?: OcsfConstraints | undefined;
    category?: string | undefined;
  }
  const resolved = new Map<Definition, Resolved>();
  const resolve = (definition: Definition, family: Map<string, Definition>): Resolved => {
    const done = resolved.get(definition);
    if (done) return done;
    const parent = definition.extends ? family.get(definition.extends) : undefined;
    if (definition.extends && !parent) throw new Error(`${definition.name} extends ${definition.extends}, which the schema does not define`);
    const inherited: Resolved = parent ? resolve(parent, family) : { attributes: {} };
    const result: Resolved = {
      attributes: deepMerge(inherited.attributes, ownAttributes(definition)) as Json,
      constraints: definition.constraints ?? inherited.constraints,
      category: definition.category ?? inherited.category,
    };
    resolved.set(definition, result);
    return result;
  };

  const wanted = new Set<string>();
  const compileAttributes = (attributes: Json, owner: string): Record<string, OcsfAttribute> =>
    Object.fromEntries(
      Object.entries(attributes).map(([name, own]) => {
        const base = dictionaryAttributes[name];
        if (!base) throw new Error(`${owner}.${name} is not in the dictionary`);
        const full = deepMerge(base, own) as Json;
        const type = String(full.type);
        if (!type.endsWith('_t')) wanted.add(type);
        const enumeration = isRecord(full.enum) ? Object.fromEntries(Object.entries(full.enum).map(([id, entry]) => [id, String((entry as Json).caption)])) : undefined;
        const attribute: OcsfAttribute = {
          type,
          requirement: (full.requirement as OcsfAttribute['requirement'] | undefined) ?? 'optional',
          ...(full.is_array === true ? { is_array: true as const } : {}),
          ...(enumeration ? { enum: enumeration } : {}),
          ...(typeof full.sibling === 'string' ? { sibling: full.sibling } : {}),
          ...(typeof full.profile === 'string' ? { profile: full.profile } : {}),
        };
        return [name, attribute];
      }),
    );

  const classes: Record<string, OcsfClass> = {};
  for (const name of classNames) {
    const definition = events.get(name);
    if (!definition) throw new Error(`no event class ${name} in ${root}`);
    const { attributes, constraints, category } = resolve(definition, events);
    const group = category ? categories[category] : undefined;
    if (!group || definition.uid === undefined) throw new Error(`${name} has no category or uid`);
    const uid = group.uid * 1000 + definition.uid;
    const compiled = compileAttributes(attributes, name);
    const activities = compiled.activity_id?.enum ?? {};
    compiled.class_uid = { ...compiled.class_uid!, enum: { [uid]: definition.caption } };
    compiled.category_uid = { ...compiled.category_uid!, enum: { [group.uid]: group.caption } };
    compiled.type_uid = { ...compiled.type_uid!, enum: Object.fromEntries(Object.entries(activities).map(([id, caption]) => [String(uid * 100 + Number(id)), `${definition.caption}: ${caption}`])) };
    classes[name] = { name, uid, caption: definition.caption, attributes: compiled, ...(constraints ? { constraints } : {}) };
  }

  const compiledObjects: Record<string, OcsfShape> = {};
  for (let pending = [...wanted]; pending.length > 0; pending = [...wanted].filter((n) => !compiledObjects[n])) {
    for (const name of pending) {
      const definition = objects.get(name);
      if (!definition) throw new Error(`no object ${name} in ${root}`);
      const { attributes, constraints } = resolve(definition, objects);
      compiledObjects[name] = { caption: definition.caption, attributes: compileAttributes(attributes, name), ...(constraints && Object.keys(constraints).length > 0 ? { constraints } : {}) };
    }
  }

  const typeDefinitions = (dictionary.types as { attributes: Record<string, Json> }).attributes;
  const flatten = (name: string): OcsfType => {
    const definition = typeDefinitions[name];
    if (!definition) throw new Error(`no data type ${name} in the dictionary`);
    const base: OcsfType = typeof definition.type === 'string' ? flatten(definition.type) : { base: name };
    return { ...base, ...(definition.max_len !== undefined ? { max_len: Number(definition.max_len) } : {}), ...(typeof definition.regex === 'string' ? { regex: definition.regex } : {}), ...(Array.isArray(definition.range) ? { range: definition.range as [number, number] } : {}) };
  };

  return {
    version: String(readJson(join(root, 'version.json')).version),
    source: { repository: 'https://github.com/ocsf/ocsf-schema', tag: git(root, 'describe', '--tags', '--exact-match', 'HEAD'), commit: git(root, 'rev-parse', 'HEAD') },
    types: Object.fromEntries(Object.keys(typeDefinitions).sort().map((name) => [name, flatten(name)])),
    profiles: [...profiles].sort(),
    classes,
    objects: Object.fromEntries(Object.entries(compiledObjects).sort(([a], [b]) => a.localeCompare(b))),
  };
}

const root = process.argv[2];
if (!root) {
  console.error('usage: node --import tsx scripts/compile-ocsf-schema.ts <ocsf-schema checkout at a release tag>');
  process.exit(2);
}
const schema = compile(root, OCSF_CLASS_NAMES);
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'ocsf-schema.json'), `${JSON.stringify(schema, null, 1)}\n`);
for (const file of ['LICENSE', 'NOTICE']) copyFileSync(join(root, file), join(OUT, file));
writeFileSync(
  join(OUT, 'SOURCE.md'),
  `# OCSF schema ${schema.version}, compiled\n\nFrom ${schema.source.repository} at tag \`${schema.source.tag}\` (commit ${schema.source.commit}), under the Apache License 2.0 (LICENSE, NOTICE). \`ocsf-schema.json\` holds the classes Portcullis writes (${Object.values(schema.classes).map((c) => `${c.name} ${c.uid}`).join(', ')}) and every object they reach, resolved by scripts/compile-ocsf-schema.ts; do not edit it, re-run the script (docs/audit.md#ocsf).\n`,
);
console.error(`wrote ${OUT}/ocsf-schema.json: OCSF ${schema.version} (${schema.source.tag}, ${schema.source.commit}), classes ${Object.keys(schema.classes).join(', ')}, ${Object.keys(schema.objects).length} objects`);
