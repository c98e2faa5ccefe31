/**
 * The rooms of src/ and what each may import (docs/design.md, "Modules"): dependencies
 * point one way, interfaces -> services -> domain/storage. A type pointing the wrong way
 * couples the rooms as much as a value does, so type-only imports obey the same table; the
 * one exception is the CLI, which reads the records the REST API answers with as types
 * and loads no server code. `npm test` checks it (test/integration/dependencies.test.ts,
 * which also shows that a wrong-way import fails), and so does `npm run lint:deps`.
 */
const MAY_IMPORT = {
  core: [],
  config: ['core', 'store'],
  store: ['core'],
  db: ['core'],
  access: ['core', 'db'],
  catalog: ['core', 'db', 'store'],
  jobs: ['core', 'db', 'catalog', 'store', 'transfer'],
  transfer: ['core', 'store', 'db'],
  federation: ['core', 'db', 'catalog', 'store', 'transfer', 'jobs'],
  api: ['core', 'config', 'store', 'db', 'access', 'catalog', 'jobs', 'transfer', 'federation'],
  cli: ['core', 'config', 'store', 'transfer'],
};
/** Types only: the records the REST API answers with. */
const MAY_IMPORT_TYPES = {
  cli: ['catalog', 'federation', 'access'],
};
const ROOMS = [...Object.keys(MAY_IMPORT), 'main'];
/** Node's modules that do no I/O: the only ones the pure domain may use. */
const PURE_NODE_MODULES = ['crypto'];
const NOT_TESTS = '\\.test\\.ts$|\\.suite\\.ts$';

const roomRules = Object.entries(MAY_IMPORT).flatMap(([room, allowed]) => {
  const types = MAY_IMPORT_TYPES[room] ?? [];
  const forbidden = ROOMS.filter((r) => r !== room && !allowed.includes(r) && !types.includes(r));
  const rules = [
    {
      name: `${room}-imports`,
      comment: `src/${room} may import only ${allowed.join(', ') || 'nothing outside itself'}`,
      severity: 'error',
      from: { path: `^src/${room}/`, pathNot: NOT_TESTS },
      to: { path: `^src/(${forbidden.join('|')})/` },
    },
  ];
  if (types.length > 0) {
    rules.push({
      name: `${room}-type-imports`,
      comment: `src/${room} may import only types from ${types.join(', ')}`,
      severity: 'error',
      from: { path: `^src/${room}/`, pathNot: NOT_TESTS },
      to: { path: `^src/(${types.join('|')})/`, dependencyTypesNot: ['type-only'] },
    });
  }
  return rules;
});

module.exports = {
  forbidden: [
    ...roomRules,
    {
      name: 'core-is-pure',
      comment: 'src/core is plain TypeScript: no package, and no node module that does I/O',
      severity: 'error',
      from: { path: '^src/core/', pathNot: NOT_TESTS },
      to: {
        dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: `^(node:)?(${PURE_NODE_MODULES.join('|')})$`,
      },
    },
    {
      name: 'no-test-code',
      comment: 'only tests import test/, bench/ and scripts/',
      severity: 'error',
      from: { path: '^src/', pathNot: NOT_TESTS },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
