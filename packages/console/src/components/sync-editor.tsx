import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';
import { OPERATORS, OPERATORS_WITHOUT_VALUES, type EventCatalog, type Operator, type PropertyType, type Sync } from '../api/types.js';
import { fieldErrorOf } from '../lib/field-errors.js';
import { bodyOf, emptyCondition, formOf, newSyncForm, type ConditionForm, type SyncForm } from '../lib/sync-form.js';
import { useApi, useLoad } from './navigation.js';
import { Field, FieldError, NamePicker, Notice, Toggle, describedBy, fieldId } from './ui.js';

const PROPERTY_TYPES: Array<[PropertyType, string]> = [
  ['event', 'Event property'],
  ['user', 'User property'],
  ['field', 'Event field'],
];

const EMPTY_CATALOG: EventCatalog = { eventTypes: [], eventProperties: [], userProperties: [], fields: [], sampled: 0 };

type Errors = Record<string, string>;

/**
 * The seed's sync page on one form: name, Status, endpoint and authorization, Send events with
 * its event rows and properties, Send users with its properties, delivery settings folded away,
 * Save. Errors from the API land next to the field they name; a save over a newer version
 * than the one shown says so instead of overwriting.
 */
export function SyncEditor(props: { projectId: string; sync?: Sync; onSaved: (sync: Sync, created: boolean) => void }) {
  const api = useApi();
  const [form, setForm] = useState<SyncForm>(() => (props.sync ? formOf(props.sync) : newSyncForm()));
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  const [saving, setSaving] = useState(false);
  const [deliveryOpen, setDeliveryOpen] = useState(false);
  const catalog = useLoad((a) => a.get<EventCatalog>(`/v1/projects/${props.projectId}/event-catalog`), props.projectId).data ?? EMPTY_CATALOG;

  const focusKey = Object.keys(errors)[0];
  useEffect(() => {
    if (focusKey) document.getElementById(fieldId(focusKey))?.focus();
  }, [focusKey, errors]);

  const set = <K extends keyof SyncForm>(key: K, value: SyncForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const setRow = (i: number, row: SyncForm['eventFilters'][number]) =>
    setForm((f) => ({ ...f, eventFilters: f.eventFilters.map((r, k) => (k === i ? row : r)) }));
  const setCondition = (i: number, j: number, patch: Partial<ConditionForm>) =>
    setForm((f) => ({
      ...f,
      eventFilters: f.eventFilters.map((r, k) => (k === i ? { ...r, where: r.where.map((c, m) => (m === j ? { ...c, ...patch } : c)) } : r)),
    }));

  const save = async () => {
    setSaving(true);
    setErrors({});
    setFormError(null);
    setConflict(false);
    try {
      const body = bodyOf(form);
      const saved = props.sync
        ? await api.request<Sync>('PATCH', `/v1/syncs/${props.sync.id}`, body, { 'if-match': String(props.sync.version) })
        : await api.request<Sync>('POST', `/v1/projects/${props.projectId}/syncs`, body);
      if (props.sync) setForm(formOf(saved));
      props.onSaved(saved, !props.sync);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(0, String(err));
      if (e.status === 409) {
        setConflict(true);
      } else if (e.status === 400) {
        const { field, message } = fieldErrorOf(e.message);
        const key = field && placeOf(field, form.authMode);
        if (key && key.startsWith('delivery.')) setDeliveryOpen(true);
        if (key) setErrors({ [key]: message });
        else setFormError(e.message);
      } else {
        setFormError(e.message);
      }
    } finally {
      setSaving(false);
    }
  };

  const propertySuggestions = (type: PropertyType) =>
    (type === 'event' ? catalog.eventProperties : type === 'user' ? catalog.userProperties : catalog.fields).map((n) => n.name);

  return (
    <form
      class="sync-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      {conflict && (
        <Notice kind="warning">
          <strong>This sync was changed meanwhile</strong> (by someone else or in another tab), so your save was not applied. Reload to see the
          current settings, then make your change again.{' '}
          <button type="button" class="link-button" onClick={() => location.reload()}>
            Reload
          </button>
        </Notice>
      )}
      {formError && <Notice kind="error">{formError}</Notice>}

      <fieldset class="card">
        <legend>Sync</legend>
        <Field field="name" label="Sync name" error={errors.name}>
          <input id={fieldId('name')} value={form.name} onInput={(e) => set('name', e.currentTarget.value)} placeholder="Movable Ink – prod" {...describedBy('name', errors.name)} />
        </Field>
        <Toggle id={fieldId('enabled')} label="Status" checked={form.enabled} onChange={(on) => set('enabled', on)} onLabel="Enabled" offLabel="Disabled" hint="Delivers only while enabled." />
      </fieldset>

      <fieldset class="card">
        <legend>Movable Ink endpoint</legend>
        <Field field="endpointUrl" label="Endpoint URL" error={errors.endpointUrl} hint="The behavioral endpoint URL Movable Ink gave you (https).">
          <input
            id={fieldId('endpointUrl')}
            type="url"
            inputMode="url"
            value={form.endpointUrl}
            onInput={(e) => set('endpointUrl', e.currentTarget.value)}
            placeholder="https://collector.movableink-dmz.com/behavioral/…"
            {...describedBy('endpointUrl', errors.endpointUrl)}
          />
        </Field>
        <div class="field" role="radiogroup" aria-labelledby="auth-mode-label" id={fieldId('authorization')} tabIndex={-1}>
          <span class="label" id="auth-mode-label">
            Authorization
          </span>
          {props.sync && (
            <p class="hint">
              Stored (encrypted): <code>{props.sync.authorization}</code>
            </p>
          )}
          <div class="radios">
            {props.sync && (
              <label>
                <input type="radio" name="auth-mode" checked={form.authMode === 'keep'} onChange={() => set('authMode', 'keep')} /> Keep the stored one
              </label>
            )}
            <label>
              <input type="radio" name="auth-mode" checked={form.authMode === 'keys'} onChange={() => set('authMode', 'keys')} /> Access Key ID and Secret
            </label>
            <label>
              <input type="radio" name="auth-mode" checked={form.authMode === 'header'} onChange={() => set('authMode', 'header')} /> Basic Authorization Header Value
            </label>
          </div>
          <FieldError field="authorization" error={errors.authorization} />
        </div>
        {form.authMode === 'keys' && (
          <div class="grid-2">
            <Field field="authorization.accessKeyId" label="Access Key ID" error={errors['authorization.accessKeyId']}>
              <input id={fieldId('authorization.accessKeyId')} value={form.accessKeyId} autocomplete="off" onInput={(e) => set('accessKeyId', e.currentTarget.value)} {...describedBy('authorization.accessKeyId', errors['authorization.accessKeyId'])} />
            </Field>
            <Field field="authorization.accessSecret" label="Access Secret" error={errors['authorization.accessSecret']}>
              <input id={fieldId('authorization.accessSecret')} type="password" autocomplete="new-password" value={form.accessSecret} onInput={(e) => set('accessSecret', e.currentTarget.value)} {...describedBy('authorization.accessSecret', errors['authorization.accessSecret'])} />
            </Field>
          </div>
        )}
        {form.authMode === 'header' && (
          <Field field="authorizationHeader" label="Header value" error={errors.authorizationHeader} hint='The whole value, e.g. "Basic dGVzdDp0ZXN0".'>
            <input id={fieldId('authorizationHeader')} type="password" autocomplete="off" value={form.authHeader} onInput={(e) => set('authHeader', e.currentTarget.value)} {...describedBy('authorizationHeader', errors.authorizationHeader)} />
          </Field>
        )}
      </fieldset>

      <fieldset class="card">
        <legend>Events</legend>
        <Toggle id={fieldId('sendEvents')} label="Send events" checked={form.sendEvents} onChange={(on) => set('sendEvents', on)} hint="Selected events are sent as track payloads." />
        <div class={form.sendEvents ? '' : 'muted'}>
          <h3 id="event-rows-label">Select and filter events</h3>
          <p class="hint">An event is sent when it matches any row; a row matches its event type and all of its conditions. “*” selects every event type.</p>
          <FieldError field="eventFilters" error={errors.eventFilters} />
          <datalist id="event-type-suggestions">
            <option value="*" />
            {catalog.eventTypes.map((t) => (
              <option key={t.name} value={t.name} />
            ))}
          </datalist>
          <ol class="filter-rows" aria-labelledby="event-rows-label">
            {form.eventFilters.map((row, i) => (
              <li class="filter-row" key={i}>
                <div class="inline align-end">
                  <Field field={`eventFilters.${i}.eventType`} label={`Event type (row ${i + 1})`} error={errors[`eventFilters.${i}.eventType`] ?? errors[`eventFilters.${i}`]}>
                    <input
                      id={fieldId(`eventFilters.${i}.eventType`)}
                      list="event-type-suggestions"
                      value={row.eventType}
                      autocomplete="off"
                      placeholder="e.g. Product Viewed"
                      onInput={(e) => setRow(i, { ...row, eventType: e.currentTarget.value })}
                      {...describedBy(`eventFilters.${i}.eventType`, errors[`eventFilters.${i}.eventType`])}
                    />
                  </Field>
                  <button type="button" class="secondary" onClick={() => setRow(i, { ...row, where: [...row.where, emptyCondition()] })} aria-label={`Add a condition to row ${i + 1}`}>
                    + where
                  </button>
                  <button
                    type="button"
                    class="danger-outline"
                    onClick={() => set('eventFilters', form.eventFilters.filter((_, k) => k !== i))}
                    aria-label={`Remove row ${i + 1}`}
                  >
                    Remove
                  </button>
                </div>
                {row.where.length > 0 && (
                  <ul class="conditions" aria-label={`Conditions of row ${i + 1}`}>
                    {row.where.map((c, j) => {
                      const key = `eventFilters.${i}.where.${j}`;
                      const listId = `${fieldId(key)}-properties`;
                      return (
                        <li class="condition" key={j}>
                          <span class="where-label">{j === 0 ? 'where' : 'and'}</span>
                          <div class="field">
                            <label for={fieldId(`${key}.propertyType`)} class="sr-only">
                              Property type
                            </label>
                            <select id={fieldId(`${key}.propertyType`)} value={c.propertyType} onChange={(e) => setCondition(i, j, { propertyType: e.currentTarget.value as PropertyType })}>
                              {PROPERTY_TYPES.map(([v, label]) => (
                                <option key={v} value={v}>
                                  {label}
                                </option>
                              ))}
                            </select>
                          </div>
                          <Field field={`${key}.property`} label="Property" error={errors[`${key}.property`]}>
                            <input id={fieldId(`${key}.property`)} list={listId} value={c.property} autocomplete="off" onInput={(e) => setCondition(i, j, { property: e.currentTarget.value })} {...describedBy(`${key}.property`, errors[`${key}.property`])} />
                          </Field>
                          <datalist id={listId}>
                            {propertySuggestions(c.propertyType).map((n) => (
                              <option key={n} value={n} />
                            ))}
                          </datalist>
                          <Field field={`${key}.operator`} label="Operator" error={errors[`${key}.operator`]}>
                            <select id={fieldId(`${key}.operator`)} value={c.operator} onChange={(e) => setCondition(i, j, { operator: e.currentTarget.value as Operator })}>
                              {OPERATORS.map((o) => (
                                <option key={o} value={o}>
                                  {o}
                                </option>
                              ))}
                            </select>
                          </Field>
                          {!OPERATORS_WITHOUT_VALUES.has(c.operator) && (
                            <Field field={`${key}.values`} label="Values (comma-separated)" error={errors[`${key}.values`]}>
                              <input id={fieldId(`${key}.values`)} value={c.valuesText} onInput={(e) => setCondition(i, j, { valuesText: e.currentTarget.value })} placeholder="(none) = absent" {...describedBy(`${key}.values`, errors[`${key}.values`])} />
                            </Field>
                          )}
                          <button
                            type="button"
                            class="link-button remove-condition"
                            onClick={() => setRow(i, { ...row, where: row.where.filter((_, m) => m !== j) })}
                            aria-label={`Remove condition ${j + 1} of row ${i + 1}`}
                          >
                            ×
                          </button>
                        </li>
                      );
                    })}
                  </ul>
                )}
              </li>
            ))}
          </ol>
          <button type="button" class="secondary" onClick={() => set('eventFilters', [...form.eventFilters, { eventType: '', where: [] }])}>
            + Add event
          </button>
          <NamePicker
            field="eventProperties"
            label="Additional event properties"
            names={form.eventProperties}
            suggestions={['*', ...catalog.eventProperties.map((n) => n.name)]}
            onChange={(names) => set('eventProperties', names)}
            error={errors.eventProperties}
            hint="Only these event properties are sent (“*” sends all)."
          />
        </div>
      </fieldset>

      <fieldset class="card">
        <legend>Users</legend>
        <Toggle id={fieldId('sendUsers')} label="Send users" checked={form.sendUsers} onChange={(on) => set('sendUsers', on)} hint="User updates are sent as identify payloads." />
        <NamePicker
          field="userProperties"
          label="User properties"
          names={form.userProperties}
          suggestions={['*', ...catalog.userProperties.map((n) => n.name)]}
          onChange={(names) => set('userProperties', names)}
          error={errors.userProperties}
          hint="Sent as traits of identify payloads and user_properties of tracks (“*” sends all)."
        />
      </fieldset>

      <details class="card" open={deliveryOpen} onToggle={(e) => setDeliveryOpen(e.currentTarget.open)}>
        <summary>Delivery settings</summary>
        <div class="grid-3">
          {(
            [
              ['batchSize', 'Batch size', '1 = one payload per request, as Movable Ink asks'],
              ['maxRequestBytes', 'Max request bytes', 'At most 2,000,000'],
              ['maxConcurrency', 'Max concurrency', 'Requests in flight at once'],
              ['requestTimeoutMs', 'Request timeout (ms)', ''],
              ['retryWindowSeconds', 'Retry window (s)', '60 to 259,200; then a payload becomes a dead letter'],
            ] as const
          ).map(([key, label, hint]) => (
            <Field key={key} field={`delivery.${key}`} label={label} error={errors[`delivery.${key}`]} hint={hint || undefined}>
              <input
                id={fieldId(`delivery.${key}`)}
                inputMode="numeric"
                value={form.delivery[key]}
                onInput={(e) => set('delivery', { ...form.delivery, [key]: e.currentTarget.value })}
                {...describedBy(`delivery.${key}`, errors[`delivery.${key}`])}
              />
            </Field>
          ))}
        </div>
        <Toggle
          id={fieldId('delivery.preserveUserOrder')}
          label="Preserve each user's order"
          checked={form.delivery.preserveUserOrder}
          onChange={(on) => set('delivery', { ...form.delivery, preserveUserOrder: on })}
        />
      </details>

      <div class="actions save-bar">
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : props.sync ? 'Save' : 'Create sync'}
        </button>
        {props.sync && <span class="hint">Version {props.sync.version}</span>}
      </div>
    </form>
  );
}

/**
 * The form key an API field lands on: the header value's errors at its input; a whole
 * authorization object at the radio group.
 */
function placeOf(field: string, authMode: SyncForm['authMode']): string {
  if (field === 'authorization' && authMode === 'header') return 'authorizationHeader';
  return field;
}
