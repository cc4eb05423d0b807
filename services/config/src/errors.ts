/**
 * What an operation can refuse, in the product's words. Routes map them to HTTP statuses;
 * operations never speak HTTP.
 */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(readonly resource: 'project' | 'sync', readonly id: string) {
    super(`${resource} ${id} not found`);
  }
}

/** The request contradicts the current state, e.g. an If-Match version that is not current. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** Input that passed the schema but breaks a rule; `field` is a path such as `body/endpointUrl`. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field} ${problem}`);
  }
}
