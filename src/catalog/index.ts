/**
 * catalog: images, image types, series, lineage, states and working copies.
 * May import core and db. The repositories hold the SQL; catalog.service.ts holds the rules.
 */
export { CatalogService } from './catalog.service.js';
export * from './types.js';
