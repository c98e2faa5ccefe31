/**
 * SQL for the rolls (migration 011): a plan row per roll and a step row per node. Every
 * change of a step is one conditional UPDATE on its expected state, so a leader that lost
 * its lease mid-tick and the node it drives cannot both move one step.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Schema, UpdatePlanTable, UpdateStepState, UpdateStepTable } from '../db/schema.js';

export type PlanRow = Selectable<UpdatePlanTable>;
export type StepRow = Selectable<UpdateStepTable>;
export type NewPlan = Omit<PlanRow, 'id' | 'error' | 'ended_at' | 'state'>;

export class UpdatePlanRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  /** Writes the plan and its steps in one transaction; the unique index refuses a second running plan. */
  async create(plan: NewPlan, steps: readonly Omit<StepRow, 'plan_id'>[]): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      const { id } = await tx
        .insertInto('update_plans')
        .values({ ...plan, state: 'running', error: null, ended_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      await tx
        .insertInto('update_steps')
        .values(steps.map((s) => ({ ...s, plan_id: Number(id) })))
        .execute();
      return Number(id);
    });
  }

  running(): Promise<PlanRow | undefined> {
    return this.db.selectFrom('update_plans').selectAll().where('state', '=', 'running').executeTakeFirst();
  }

  latest(): Promise<PlanRow | undefined> {
    return this.db.selectFrom('update_plans').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
  }

  steps(planId: number): Promise<StepRow[]> {
    return this.db
      .selectFrom('update_steps')
      .selectAll()
      .where('plan_id', '=', planId)
      .orderBy('seq')
      .execute();
  }

  /** Moves a step from `from` to `to`; whether it was in `from`. */
  async move(
    step: Pick<StepRow, 'plan_id' | 'seq'>,
    from: UpdateStepState,
    to: UpdateStepState,
    now: string,
    extra: Partial<Pick<StepRow, 'error' | 'started_at' | 'ended_at'>> = {},
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('update_steps')
      .set({ state: to, updated_at: now, ...extra })
      .where('plan_id', '=', step.plan_id)
      .where('seq', '=', step.seq)
      .where('state', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Ends a running plan. */
  async end(planId: number, state: 'done' | 'failed', now: string, error: string | null): Promise<void> {
    await this.db
      .updateTable('update_plans')
      .set({ state, ended_at: now, error })
      .where('id', '=', planId)
      .where('state', '=', 'running')
      .execute();
  }

  /** The step of a running plan that asks `node` to install and restart, if any. */
  async installFor(node: string): Promise<{ plan: PlanRow; step: StepRow } | undefined> {
    const plan = await this.running();
    if (!plan) return undefined;
    const step = await this.db
      .selectFrom('update_steps')
      .selectAll()
      .where('plan_id', '=', plan.id)
      .where('node_id', '=', node)
      .where('state', '=', 'install')
      .executeTakeFirst();
    return step && { plan, step };
  }
}
