import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';

/** The id of a form field from its key (`eventFilters.0.eventType` → `f-eventFilters-0-eventType`). */
export const fieldId = (key: string) => `f-${key.replace(/\./g, '-')}`;

/** aria attributes that tie an input to its error message. */
export function describedBy(key: string, error: string | undefined): Record<string, string | boolean> {
  return error ? { 'aria-invalid': true, 'aria-describedby': `${fieldId(key)}-error` } : {};
}

export function FieldError({ field, error }: { field: string; error: string | undefined }) {
  if (!error) return null;
  return (
    <p class="field-error" id={`${fieldId(field)}-error`} data-field={field}>
      {error}
    </p>
  );
}

export function Field(props: { field: string; label: string; hint?: ComponentChildren; error?: string | undefined; children: ComponentChildren }) {
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={fieldId(props.field)}>{props.label}</label>
      {props.children}
      {props.hint && <p class="hint">{props.hint}</p>}
      <FieldError field={props.field} error={props.error} />
    </div>
  );
}

/** An on/off switch: a real button, so Tab reaches it and Space or Enter flips it. */
export function Toggle(props: { id?: string; label: string; checked: boolean; onChange: (on: boolean) => void; onLabel?: string; offLabel?: string; hint?: string }) {
  const generated = useId();
  const id = props.id ?? generated;
  return (
    <div class="toggle-row">
      <span class="toggle-label" id={`${id}-label`}>
        {props.label}
      </span>
      <button
        type="button"
        id={id}
        role="switch"
        class="toggle"
        aria-checked={props.checked}
        aria-labelledby={`${id}-label`}
        onClick={() => props.onChange(!props.checked)}
      >
        <span class="toggle-knob" aria-hidden="true" />
        <span class="toggle-text">{props.checked ? (props.onLabel ?? 'On') : (props.offLabel ?? 'Off')}</span>
      </button>
      {props.hint && <span class="hint">{props.hint}</span>}
    </div>
  );
}

export function Notice(props: { kind?: 'info' | 'success' | 'error' | 'warning'; children: ComponentChildren; onClose?: () => void }) {
  const kind = props.kind ?? 'info';
  return (
    <div class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      <div class="notice-body">{props.children}</div>
      {props.onClose && (
        <button type="button" class="link-button" onClick={props.onClose} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge badge-${state}`}>{state}</span>;
}

/** Text with a Copy button (the clipboard may refuse outside a secure context: then say so). */
export function Copyable({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  return (
    <div class="copyable">
      <code>{text}</code>
      <button
        type="button"
        class="secondary small"
        aria-label={`Copy ${label}`}
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(text);
            setCopied('yes');
          } catch {
            setCopied('no');
          }
        }}
      >
        {copied === 'yes' ? 'Copied' : 'Copy'}
      </button>
      {copied === 'no' && <span class="hint">Select the text and copy it by hand.</span>}
    </div>
  );
}

/**
 * A confirmation in a native modal dialog: focus moves into it, Escape cancels, and focus
 * returns to what opened it.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void | Promise<void>;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <h2 id={titleId}>{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      <div class="actions">
        <button type="button" class="secondary" onClick={props.onCancel} autofocus>
          Cancel
        </button>
        <button
          type="button"
          class={props.danger ? 'danger' : ''}
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await props.onConfirm();
            } finally {
              setBusy(false);
            }
          }}
        >
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/**
 * Names picked from suggestions or typed: chips with a remove button each, an input with the
 * suggestions as a datalist; Enter or Add puts the typed name in.
 */
export function NamePicker(props: {
  field: string;
  label: string;
  names: string[];
  suggestions: string[];
  onChange: (names: string[]) => void;
  error?: string | undefined;
  hint?: ComponentChildren;
}) {
  const [draft, setDraft] = useState('');
  const listId = `${fieldId(props.field)}-suggestions`;
  const add = () => {
    const name = draft.trim();
    if (name !== '' && !props.names.includes(name)) props.onChange([...props.names, name]);
    setDraft('');
  };
  const remaining = props.suggestions.filter((s) => !props.names.includes(s));
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={fieldId(props.field)}>{props.label}</label>
      <ul class="chips" aria-label={`${props.label}: chosen`}>
        {props.names.length === 0 && <li class="hint">None: nothing is sent.</li>}
        {props.names.map((name) => (
          <li class="chip" key={name}>
            <span>{name === '*' ? '* (all)' : name}</span>
            <button type="button" class="chip-remove" aria-label={`Remove ${name}`} onClick={() => props.onChange(props.names.filter((n) => n !== name))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <div class="inline">
        <input
          id={fieldId(props.field)}
          list={listId}
          value={draft}
          placeholder="property name"
          autocomplete="off"
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              add();
            }
          }}
          {...describedBy(props.field, props.error)}
        />
        <button type="button" class="secondary" onClick={add} aria-label={`Add to ${props.label}`}>
          Add
        </button>
      </div>
      <datalist id={listId}>
        {remaining.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      {remaining.length > 0 && (
        <p class="hint">
          Seen lately:{' '}
          {remaining.slice(0, 8).map((s) => (
            <button type="button" class="suggestion" key={s} onClick={() => props.onChange([...props.names, s])} aria-label={`Add ${s} to ${props.label}`}>
              {s}
            </button>
          ))}
        </p>
      )}
      {props.hint && <p class="hint">{props.hint}</p>}
      <FieldError field={props.field} error={props.error} />
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}
