/**
 * The rooms of src/ and what each may import (docs/design.md, "Modules"): dependencies
 * point one way, interfaces -> services -> domain/storage. `npm run lint:deps` checks it,
 * and so does the test suite (test/integration/dependencies.test.ts).
 */
const MAY_IMPORT = {
  core: [],
  config: ['core', 'store'],
  store: ['core'],
  db: ['core'],
  catalog: ['core', 'db', 'store'],
  jobs: ['core', 'db', 'catalog', 'store'],
  transfer: ['core', 'store', 'db'],
  federation: ['core', 'db', 'catalog', 'store', 'transfer', 'jobs'],
  api: ['core', 'config', 'store', 'db', 'catalog', 'jobs', 'transfer', 'federation'],
  cli: ['core', 'config', 'store', 'transfer', 'federation'],
};
const ROOMS = [...Object.keys(MAY_IMPORT), 'main'];

module.exports = {
  forbidden: [
    ...Object.entries(MAY_IMPORT).map(([room, allowed]) => ({
      name: `${room}-imports`,
      comment: `src/${room} may import only ${allowed.join(', ') || 'nothing outside itself'}`,
      severity: 'error',
      from: { path: `^src/${room}/`, pathNot: '\\.test\\.ts$|\\.suite\\.ts$' },
      to: {
        path: `^src/(${ROOMS.filter((r) => r !== room && !allowed.includes(r)).join('|')})/`,
        // A type is a contract, not a dependency at run time: records the API answers
        // with are read by the CLI, for one.
        dependencyTypesNot: ['type-only'],
      },
    })),
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
