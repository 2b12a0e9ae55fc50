import { readFileSync } from 'node:fs';

/** One attribute of a compiled class or object: the dictionary's definition under the class's own (scripts/compile-ocsf-schema.ts). */
export interface OcsfAttribute {
  /** A data type of the dictionary (`string_t`, `timestamp_t`...) or an object's name. */
  type: string;
  is_array?: true;
  requirement: 'required' | 'recommended' | 'optional';
  /** id → caption. */
  enum?: Record<string, string>;
  /** The caption attribute of an `_id` attribute (status_id → status). */
  sibling?: string;
  /** Present only when the event lists this profile in metadata.profiles. */
  profile?: string;
}

export interface OcsfConstraints {
  at_least_one?: string[];
  just_one?: string[];
}

export interface OcsfShape {
  caption: string;
  attributes: Record<string, OcsfAttribute>;
  constraints?: OcsfConstraints;
}

export interface OcsfClass extends OcsfShape {
  name: string;
  uid: number;
}

/** A data type: its primitive base (a `_t` type without a `type` of its own) and its limits. */
export interface OcsfType {
  base: string;
  max_len?: number;
  regex?: string;
  range?: [number, number];
}

export interface CompiledOcsfSchema {
  version: string;
  source: { repository: string; tag: string; commit: string };
  types: Record<string, OcsfType>;
  profiles: string[];
  classes: Record<string, OcsfClass>;
  objects: Record<string, OcsfShape>;
}

export interface OcsfViolation {
  /** Where, as a JSON path from the event (`actor.user.name`, `resources[0]`). */
  path: string;
  message: string;
}

/** The classes and objects Portcullis writes, compiled from the official schema at the version its events declare. */
export function loadVendoredOcsfSchema(): CompiledOcsfSchema {
  return JSON.parse(readFileSync(new URL('../../vendor/ocsf-schema/ocsf-schema.json', import.meta.url), 'utf8')) as CompiledOcsfSchema;
}

const INT32 = 2 ** 31;
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks one OCSF event against the compiled class its class_uid names: required attributes,
 * the class's and objects' constraints (at_least_one, just_one), enum values and their
 * caption siblings (activity_id 99 needs its activity_name), the dictionary's data types
 * (base type, max_len, regex, range), type_uid = class_uid * 100 + activity_id, and
 * attributes the class or object does not define (or defines only in a profile the event
 * does not declare in metadata.profiles), recursively into every object.
 */
export function validateOcsf(schema: CompiledOcsfSchema, event: Record<string, unknown>): OcsfViolation[] {
  const violations: OcsfViolation[] = [];
  const report = (path: string, message: string) => violations.push({ path, message });
  const eventClass = Object.values(schema.classes).find((c) => c.uid === event.class_uid);
  if (!eventClass) return [{ path: 'class_uid', message: `${JSON.stringify(event.class_uid)} is not a class this schema holds (${Object.values(schema.classes).map((c) => c.uid).join(', ')})` }];
  const metadata = isRecord(event.metadata) ? event.metadata : {};
  const declared = Array.isArray(metadata.profiles) ? metadata.profiles.filter((p): p is string => typeof p === 'string') : [];
  for (const profile of declared) if (!schema.profiles.includes(profile)) report('metadata.profiles', `unknown profile ${profile}`);
  if (metadata.version !== schema.version) report('metadata.version', `${JSON.stringify(metadata.version)} is not the schema's version ${schema.version}`);
  if (typeof event.activity_id === 'number' && event.type_uid !== eventClass.uid * 100 + event.activity_id) report('type_uid', `must be class_uid * 100 + activity_id = ${eventClass.uid * 100 + event.activity_id}`);
  const active = new Set(declared);
  const inProfile = (attribute: OcsfAttribute) => attribute.profile === undefined || active.has(attribute.profile);

  const checkShape = (value: Record<string, unknown>, shape: OcsfShape, path: string): void => {
    const at = (name: string) => (path ? `${path}.${name}` : name);
    const present = (name: string) => value[name] !== undefined && value[name] !== null;
    for (const [name, attribute] of Object.entries(shape.attributes)) {
      if (attribute.requirement === 'required' && inProfile(attribute) && !present(name)) report(at(name), 'required attribute missing');
    }
    const { at_least_one: atLeastOne, just_one: justOne } = shape.constraints ?? {};
    if (atLeastOne && !atLeastOne.some(present)) report(path || '(event)', `at_least_one of ${atLeastOne.join(', ')} is required`);
    if (justOne && justOne.filter(present).length !== 1) report(path || '(event)', `just_one of ${justOne.join(', ')} is allowed`);
    for (const [name, item] of Object.entries(value)) {
      const attribute = shape.attributes[name];
      if (!attribute || !inProfile(attribute)) {
        report(at(name), attribute ? `defined only in profile ${attribute.profile}, which metadata.profiles does not declare` : `not an attribute of ${shape.caption}`);
        continue;
      }
      if (item === null || item === undefined) continue;
      if (attribute.is_array) {
        if (!Array.isArray(item)) report(at(name), 'must be an array');
        else item.forEach((element, i) => checkValue(element, attribute, `${at(name)}[${i}]`));
      } else checkValue(item, attribute, at(name));
      if (attribute.enum && attribute.sibling) checkSibling(value, name, attribute, at(attribute.sibling));
    }
  };

  // An enum's caption beside its id must be that id's caption; for 99 (Other) the source says what it was.
  const checkSibling = (value: Record<string, unknown>, name: string, attribute: OcsfAttribute, siblingPath: string): void => {
    const id = String(value[name]);
    const caption = value[attribute.sibling!];
    if (id === '99') {
      if (typeof caption !== 'string' || caption === '') report(siblingPath, `${name} is 99 (Other): ${attribute.sibling} must say what it is`);
    } else if (caption !== undefined && attribute.enum![id] !== undefined && caption !== attribute.enum![id]) report(siblingPath, `must be ${JSON.stringify(attribute.enum![id])}, the caption of ${name} ${id}`);
  };

  const checkValue = (item: unknown, attribute: OcsfAttribute, path: string): void => {
    const object = schema.objects[attribute.type];
    if (object) {
      if (!isRecord(item)) report(path, `must be a ${attribute.type} object`);
      // `object` is OCSF's generic object (unmapped, xattributes): anything goes inside.
      else if (attribute.type !== 'object') checkShape(item, object, path);
      return;
    }
    const type = schema.types[attribute.type];
    const problem = type ? typeProblem(item, type) : `type ${attribute.type} is not in the compiled dictionary`;
    if (problem) report(path, type ? `${attribute.type}: ${problem}` : problem);
    else if (attribute.enum && attribute.enum[String(item)] === undefined) report(path, `${JSON.stringify(item)} is not one of ${Object.entries(attribute.enum).map(([id, caption]) => `${id} (${caption})`).join(', ')}`);
  };

  checkShape(event, eventClass, '');
  return violations;
}

/** What is wrong with a value of a dictionary data type, if anything. */
function typeProblem(value: unknown, type: OcsfType): string | undefined {
  switch (type.base) {
    case 'json_t':
      return undefined;
    case 'boolean_t':
      return typeof value === 'boolean' ? undefined : 'must be a boolean';
    case 'float_t':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'must be a number';
    // Data lakes store integer_t as a 32-bit int and long_t as a 64-bit one (JSON keeps 53 bits exactly).
    case 'integer_t':
    case 'long_t': {
      const limit = type.base === 'integer_t' ? INT32 : 2 ** 53;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < -limit || value >= limit) return `must be an integer within ±${limit}`;
      if (type.range && (value < type.range[0] || value > type.range[1])) return `must be within ${type.range[0]}..${type.range[1]}`;
      return undefined;
    }
    case 'string_t':
      if (typeof value !== 'string') return 'must be a string';
      if (type.max_len !== undefined && Buffer.byteLength(value) > type.max_len) return `longer than ${type.max_len} bytes`;
      if (type.regex !== undefined && !new RegExp(type.regex).test(value)) return `${JSON.stringify(value)} does not match the type's pattern`;
      return undefined;
    default:
      return `unknown base type ${type.base}`;
  }
}
