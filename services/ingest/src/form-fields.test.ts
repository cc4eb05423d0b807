import { describe, expect, it } from 'vitest';
import { readFormFields, type FormReadResult } from './form-fields.js';

const fields = (result: FormReadResult) => (result.kind === 'fields' ? Object.fromEntries(result.fields) : result.kind);
const read = (body: string | Buffer, type?: string) => readFormFields(Buffer.isBuffer(body) ? body : Buffer.from(body), type, 1_000);

function multipart(parts: Array<[string, string]>, boundary = 'b0undary') {
  return parts.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join('') + `--${boundary}--\r\n`;
}

describe('readFormFields', () => {
  it('reads urlencoded forms, also untyped, decoding + and percent-escapes', async () => {
    const body = 'api_key=k&identification=%7B%22user_id%22%3A%22a+b%C3%BC%22%7D&empty=&flag';
    expect(fields(await read(body, 'application/x-www-form-urlencoded; charset=UTF-8'))).toEqual({
      api_key: 'k',
      identification: '{"user_id":"a bü"}',
      empty: '',
      flag: '',
    });
    expect(fields(await read(body))).toMatchObject({ api_key: 'k' });
  });

  it('keeps a field named __proto__ as data', async () => {
    const result = await read('__proto__=x&api_key=k', 'application/x-www-form-urlencoded');
    expect(result.kind === 'fields' && [...result.fields.keys()]).toEqual(['__proto__', 'api_key']);
  });

  it('reads multipart forms and ignores file parts', async () => {
    const body = multipart([
      ['api_key', 'k'],
      ['identification', '[{"user_id":"ü-12345"}]'],
    ]);
    expect(fields(await read(body, 'multipart/form-data; boundary=b0undary'))).toEqual({ api_key: 'k', identification: '[{"user_id":"ü-12345"}]' });
    const withFile = `--b\r\nContent-Disposition: form-data; name="identification"; filename="i.json"\r\n\r\n{}\r\n--b\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nk\r\n--b--\r\n`;
    expect(fields(await read(withFile, 'multipart/form-data; boundary=b'))).toEqual({ api_key: 'k' });
  });

  it.each([
    ['a bad percent-escape', 'api_key=k&identification=%ZZ', 'application/x-www-form-urlencoded'],
    ['percent-encoded invalid UTF-8', 'api_key=k&identification=%FF', 'application/x-www-form-urlencoded'],
    ['raw invalid UTF-8', Buffer.from([0x61, 0x3d, 0xff]), 'application/x-www-form-urlencoded'],
    ['multipart without a boundary', multipart([['a', 'b']]), 'multipart/form-data'],
    ['multipart never closed', '--b\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nk', 'multipart/form-data; boundary=b'],
    ['multipart with invalid UTF-8', Buffer.concat([Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n'), Buffer.from([0xff]), Buffer.from('\r\n--b--\r\n')]), 'multipart/form-data; boundary=b'],
    ['a multipart value past the size limit', multipart([['identification', 'x'.repeat(2_000)]]), 'multipart/form-data; boundary=b0undary'],
  ])('calls %s malformed', async (_name, body, type) => {
    expect(fields(await read(body, type))).toBe('malformed');
  });

  it.each(['application/json', 'text/plain', 'application/octet-stream'])('does not read %s', async (type) => {
    expect(fields(await read('api_key=k', type))).toBe('unsupported');
  });
});
