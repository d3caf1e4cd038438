// A small JSON Schema validator for the subset the API's OpenAPI document uses: $ref, type, const,
// enum, oneOf/anyOf/allOf, properties, required, additionalProperties, items, min/max(Items|Length),
// minimum/maximum (and exclusive), pattern. Unknown keywords (format, default, title...) are ignored:
// the server still validates every request, this only gives early, precise feedback while typing.

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value; // string, boolean, object
}

function typeMatches(expected, value) {
  const actual = typeOf(value);
  return expected === actual || (expected === "number" && actual === "integer");
}

function equal(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class SchemaValidator {
  /** `doc`: the OpenAPI document, for `#/...` references. */
  constructor(doc) {
    this.doc = doc;
  }

  resolve(ref) {
    if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}`);
    let node = this.doc;
    for (const part of ref.slice(2).split("/")) {
      node = node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    if (node === undefined) throw new Error(`unresolved $ref ${ref}`);
    return node;
  }

  /** Every problem of `value` against `schema`, as `{path, message}`; empty when valid. */
  validate(value, schema, path = "$") {
    const errors = [];
    this.check(value, schema, path, errors);
    return errors;
  }

  check(value, schema, path, errors) {
    if (schema === true || schema === undefined) return;
    if (schema === false) { errors.push({ path, message: "is not allowed" }); return; }
    if (schema.$ref) this.check(value, this.resolve(schema.$ref), path, errors);
    if ("const" in schema && !equal(value, schema.const)) {
      errors.push({ path, message: `must be ${JSON.stringify(schema.const)}` });
      return;
    }
    if (schema.enum && !schema.enum.some((v) => equal(v, value))) {
      errors.push({ path, message: `must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}` });
      return;
    }
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? schema.type : [schema.type];
      if (!types.some((t) => typeMatches(t, value))) {
        errors.push({ path, message: `must be ${types.join(" or ")}, not ${typeOf(value)}` });
        return;
      }
    }
    if (schema.allOf) for (const sub of schema.allOf) this.check(value, sub, path, errors);
    if (schema.oneOf) this.checkAlternatives(value, schema.oneOf, path, errors, true);
    if (schema.anyOf) this.checkAlternatives(value, schema.anyOf, path, errors, false);
    const kind = typeOf(value);
    if (kind === "number" || kind === "integer") this.checkNumber(value, schema, path, errors);
    else if (kind === "string") this.checkString(value, schema, path, errors);
    else if (kind === "array") this.checkArray(value, schema, path, errors);
    else if (kind === "object") this.checkObject(value, schema, path, errors);
  }

  checkAlternatives(value, options, path, errors, exactlyOne) {
    const results = options.map((option) => this.validate(value, option, path));
    const passed = results.filter((r) => r.length === 0).length;
    if (passed === 1 || (!exactlyOne && passed > 0)) return;
    if (passed > 1) { errors.push({ path, message: "matches more than one of the allowed shapes" }); return; }
    // None fits: report the branch the value meant (a tagged union's `type`), else the closest one.
    const tagged = options.findIndex((o) => this.tagMatches(o, value));
    const best = tagged >= 0 ? tagged : results.reduce((b, r, i) => (r.length < results[b].length ? i : b), 0);
    errors.push(...results[best]);
  }

  tagMatches(option, value) {
    if (typeOf(value) !== "object") return false;
    const target = option.$ref ? this.resolve(option.$ref) : option;
    const tag = target.properties?.type?.const;
    return tag !== undefined && value.type === tag;
  }

  checkNumber(value, s, path, errors) {
    if (s.minimum !== undefined && value < s.minimum) errors.push({ path, message: `must be at least ${s.minimum}` });
    if (s.maximum !== undefined && value > s.maximum) errors.push({ path, message: `must be at most ${s.maximum}` });
    if (typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum) {
      errors.push({ path, message: `must be more than ${s.exclusiveMinimum}` });
    }
    if (typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum) {
      errors.push({ path, message: `must be less than ${s.exclusiveMaximum}` });
    }
  }

  checkString(value, s, path, errors) {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) errors.push({ path, message: `must have at least ${s.minLength} characters` });
    if (s.maxLength !== undefined && length > s.maxLength) errors.push({ path, message: `must have at most ${s.maxLength} characters` });
    if (s.pattern !== undefined && !new RegExp(s.pattern, "u").test(value)) {
      errors.push({ path, message: `must match ${s.pattern}` });
    }
  }

  checkArray(value, s, path, errors) {
    if (s.minItems !== undefined && value.length < s.minItems) errors.push({ path, message: `must have at least ${s.minItems} items` });
    if (s.maxItems !== undefined && value.length > s.maxItems) errors.push({ path, message: `must have at most ${s.maxItems} items` });
    if (s.items && typeof s.items === "object") value.forEach((item, i) => this.check(item, s.items, `${path}[${i}]`, errors));
  }

  checkObject(value, s, path, errors) {
    for (const name of s.required || []) {
      if (!(name in value)) errors.push({ path: `${path}.${name}`, message: "is required" });
    }
    const props = s.properties || {};
    for (const [name, item] of Object.entries(value)) {
      if (name in props) this.check(item, props[name], `${path}.${name}`, errors);
      else if (s.additionalProperties !== undefined) this.check(item, s.additionalProperties, `${path}.${name}`, errors);
    }
  }
}
