// Validates entities the way a Backstage catalog does before it accepts
// them, with Backstage's own @backstage/catalog-model: the entity policies
// (envelope schema, default namespace, no foreign root fields, field
// formats), then the built-in kind validators (Component, Resource, API,
// Group, System), then that every relation Plattr writes (owner, system,
// dependsOn, providesApis) names an entity in the same export and that no
// two entities share a ref.
//
// Input (stdin): a JSON array of entities, or {"items": [...]}.
// Output (stdout): a JSON report; exit status 1 when anything is wrong.
'use strict';
const {
  EntityPolicies, DefaultNamespaceEntityPolicy, NoForeignRootFieldsEntityPolicy,
  FieldFormatEntityPolicy, SchemaValidEntityPolicy, parseEntityRef, stringifyEntityRef,
  componentEntityV1alpha1Validator, resourceEntityV1alpha1Validator, apiEntityV1alpha1Validator,
  groupEntityV1alpha1Validator, systemEntityV1alpha1Validator,
} = require('@backstage/catalog-model');

const policy = EntityPolicies.allOf([
  new SchemaValidEntityPolicy(),
  new DefaultNamespaceEntityPolicy(),
  new NoForeignRootFieldsEntityPolicy(),
  new FieldFormatEntityPolicy(),
]);
const kinds = [componentEntityV1alpha1Validator, resourceEntityV1alpha1Validator, apiEntityV1alpha1Validator,
  groupEntityV1alpha1Validator, systemEntityV1alpha1Validator];

// The kinds a relation field points to when its ref names no kind, as
// Backstage's BuiltinKindsEntityProcessor resolves them.
const relations = {
  owner: { defaultKind: 'Group', many: false },
  system: { defaultKind: 'System', many: false },
  dependsOn: { defaultKind: undefined, many: true },
  providesApis: { defaultKind: 'API', many: true },
  consumesApis: { defaultKind: 'API', many: true },
  dependencyOf: { defaultKind: undefined, many: true },
  parent: { defaultKind: 'Group', many: false },
  children: { defaultKind: 'Group', many: true },
};

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  let entities = JSON.parse(input);
  if (!Array.isArray(entities)) entities = entities.items;
  const report = { entities: entities.length, valid: 0, kinds: {}, invalid: [], dangling: [], duplicates: [] };
  const refs = new Map();
  const accepted = [];
  for (const raw of entities) {
    const where = raw && raw.metadata ? `${raw.kind}:${raw.metadata.namespace || 'default'}/${raw.metadata.name}` : JSON.stringify(raw);
    try {
      const entity = await policy.enforce(raw);
      if (!entity) throw new Error('rejected by the entity policies');
      let matched = false;
      for (const v of kinds) {
        if (await v.check(entity)) { matched = true; break; }
      }
      if (!matched) throw new Error(`kind ${entity.apiVersion}/${entity.kind} is not a built-in kind Plattr exports`);
      const ref = stringifyEntityRef(entity).toLocaleLowerCase('en-US'); // refs compare case-insensitively
      if (refs.has(ref)) report.duplicates.push(ref);
      refs.set(ref, entity);
      accepted.push(entity);
      report.valid++;
      report.kinds[entity.kind] = (report.kinds[entity.kind] || 0) + 1;
    } catch (e) {
      report.invalid.push({ entity: where, error: String(e && e.message || e) });
    }
  }
  for (const entity of accepted) {
    const from = stringifyEntityRef(entity);
    for (const [field, rule] of Object.entries(relations)) {
      const value = entity.spec && entity.spec[field];
      if (value === undefined) continue;
      for (const target of rule.many ? value : [value]) {
        let ref;
        try {
          ref = stringifyEntityRef(parseEntityRef(target, { defaultKind: rule.defaultKind, defaultNamespace: entity.metadata.namespace }));
        } catch (e) {
          report.dangling.push({ from, field, target, error: String(e.message) });
          continue;
        }
        if (!refs.has(ref.toLocaleLowerCase('en-US'))) report.dangling.push({ from, field, target: ref });
      }
    }
  }
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  process.exit(report.invalid.length || report.dangling.length || report.duplicates.length ? 1 : 0);
}

main().catch(e => { console.error(e); process.exit(2); });
