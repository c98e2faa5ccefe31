import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the run's PostgreSQL server (an admin database; make a fresh one per file). */
    pgUrl: string;
  }
}
