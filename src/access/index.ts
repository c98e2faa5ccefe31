/**
 * access: who may use the REST API and what they did. Named tokens with a role (only a hash
 * of each secret is stored) and the audit record of changes. May import core and db only;
 * which route needs which role is the API's table (src/api/route-roles.ts).
 */
export { type AuditEntry, AuditLog, type AuditRecord, MAX_AUDIT_LIMIT } from './audit-log.js';
export {
  type Caller,
  type CreatedToken,
  FILE_TOKEN_NAME,
  TokenService,
  type TokenView,
} from './token.service.js';
