/**
 * provisioning.ts: the `provisioning` section of the configuration, composed of the identity part
 * every client kind shares (tenants, users, auth strategy, passwords, keys: src/identity/config.ts)
 * and the Jitsi document part (rules and directives: src/jitsi/config.ts). src/config/schema.ts
 * mounts it; every key is documented in config/provisiond.example.yaml.
 *
 * Each tenant is one strict object holding both parts' keys, in the order the YAML reference
 * lists them; the cross-checks run per tenant, identity first.
 */
import { z } from 'zod';
import type { DeepReadonly } from '../readonly';
import { checkTenantAccess, identityShape, tenantAccessShape, tenantDomain } from '../identity/config';
import { checkTenantDocument, documentShape, tenantDocumentShape } from '../jitsi/config';

export { AUTH_STRATEGIES, strategyOf, type AuthStrategy } from '../identity/config';
export { DIRECTIVE_KEYS, ruleMayApplyTo, type RuleConfig } from '../jitsi/config';

const tenant = z.strictObject({ ...tenantAccessShape, ...tenantDocumentShape });

/** provisioningSchema is the `provisioning:` section. */
export const provisioningSchema = z
  .strictObject({
    ...identityShape,
    ...documentShape,
    tenants: z.record(tenantDomain, tenant).default({}),
  })
  .superRefine((p, ctx) => {
    for (const [dom, t] of Object.entries(p.tenants)) {
      checkTenantAccess(dom, t, ctx);
      checkTenantDocument(p, dom, t, ctx);
    }
  });

/** ProvisioningConfig is the validated section. */
export type ProvisioningConfig = DeepReadonly<z.output<typeof provisioningSchema>>;
