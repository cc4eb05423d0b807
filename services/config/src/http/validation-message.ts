import type { FastifySchemaValidationError, FastifyServerOptions } from 'fastify';

type SchemaErrorFormatter = NonNullable<FastifyServerOptions['schemaErrorFormatter']>;

/**
 * One readable sentence from ajv's errors that names the offending field by its path, e.g.
 * `body/endpointUrl must match format "uri"` or
 * `body/eventFilters/0/where/0/operator must be one of "is", "is not", …`.
 */
export function formatValidationErrors(errors: readonly FastifySchemaValidationError[], dataVar: string): string {
  const first = errors[0];
  if (!first) return `${dataVar} is invalid`;
  const anyOf = errors.find((e) => e.keyword === 'anyOf');
  if (anyOf) return describeAnyOf(anyOf, errors, dataVar);
  return describe(first, dataVar);
}

export const schemaErrorFormatter: SchemaErrorFormatter = (errors, dataVar) =>
  new Error(formatValidationErrors(errors, dataVar));

function describe(error: FastifySchemaValidationError, dataVar: string): string {
  const path = `${dataVar}${error.instancePath}`;
  switch (error.keyword) {
    case 'additionalProperties':
      return `${path} must NOT have additional property '${String(error.params.additionalProperty)}'`;
    case 'const':
      return `${path} must be ${JSON.stringify(error.params.allowedValue)}`;
    default:
      return `${path} ${error.message ?? 'is invalid'}`;
  }
}

/**
 * ajv lists the failure of every alternative before the anyOf error itself. The alternative
 * whose shape fits the value (its type matched) explains the problem best; when none fits,
 * say which values or types would have.
 */
function describeAnyOf(
  anyOf: FastifySchemaValidationError,
  errors: readonly FastifySchemaValidationError[],
  dataVar: string,
): string {
  const prefix = `${anyOf.schemaPath}/`;
  const branches = new Map<string, FastifySchemaValidationError[]>();
  for (const error of errors) {
    if (error === anyOf || !error.schemaPath.startsWith(prefix)) continue;
    const branch = error.schemaPath.slice(prefix.length).split('/')[0] ?? '';
    branches.set(branch, [...(branches.get(branch) ?? []), error]);
  }
  const rejectsShape = (e: FastifySchemaValidationError) =>
    (e.keyword === 'type' || e.keyword === 'const') && e.instancePath === anyOf.instancePath;
  const fitting = [...branches.values()].find((branchErrors) => !branchErrors.some(rejectsShape));
  if (fitting) return formatValidationErrors(fitting, dataVar);

  const path = `${dataVar}${anyOf.instancePath}`;
  const all = [...branches.values()].flat();
  const allowed = all.filter((e) => e.keyword === 'const').map((e) => JSON.stringify(e.params.allowedValue));
  if (allowed.length > 0 && allowed.length === branches.size) return `${path} must be one of ${allowed.join(', ')}`;
  const types = [...new Set(all.filter((e) => e.keyword === 'type').map((e) => String(e.params.type)))];
  if (types.length > 0) return `${path} must be ${types.join(' or ')}`;
  return `${path} ${anyOf.message ?? 'is invalid'}`;
}
