import AjvCompiler, { type Options, type ValidatorFactory } from '@fastify/ajv-compiler';

type CompilerOptions = { customOptions?: Options; plugins?: unknown[] };

/**
 * Validators for every route: bodies, params and headers are validated as sent — no type
 * coercion, so a number where a string belongs (a property name, say) is an error rather
 * than silently turned into "1" — while a query string, which is text by nature, has its
 * numbers read as numbers (`?limit=50`).
 */
export function strictBodiesCoercedQueries(): ValidatorFactory {
  const pool = AjvCompiler();
  return (externalSchemas, options) => {
    const base = (options ?? {}) as CompilerOptions;
    const withCoercion = (coerceTypes: Options['coerceTypes']) =>
      pool(externalSchemas, { ...base, customOptions: { ...base.customOptions, coerceTypes } } as Parameters<ValidatorFactory>[1]);
    const strict = withCoercion(false);
    const coercing = withCoercion('array');
    return (route) => (route.httpPart === 'querystring' ? coercing(route) : strict(route));
  };
}
