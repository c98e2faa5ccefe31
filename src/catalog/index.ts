/**
 * catalog: images, image types, series, lineage, states and working copies.
 * May import core, db and store (its ports). The repositories hold the SQL; catalog.service.ts
 * holds the rules.
 */
export { CatalogService } from './catalog.service.js';
export * from './types.js';
