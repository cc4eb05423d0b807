import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyTooLargeError, CorruptBodyError, UnsupportedEncodingError, decodeBody, decodeUtf8, parseJson } from './request-body.js';

const text = Buffer.from('{"api_key":"k","events":[]}');

describe('decodeBody', () => {
  it.each([
    ['no encoding', undefined, text],
    ['identity', 'identity', text],
    ['gzip', 'gzip', gzipSync(text)],
    ['x-gzip, any case and padding', ' X-GZIP ', gzipSync(text)],
    ['deflate', 'deflate', deflateSync(text)],
    ['br', 'br', brotliCompressSync(text)],
  ])('undoes %s', async (_name, encoding, body) => {
    expect(await decodeBody(body, encoding, 1_000)).toEqual(text);
  });

  it.each([
    ['identity', undefined, Buffer.alloc(1_001)],
    ['gzip', 'gzip', gzipSync(Buffer.alloc(5_000_000))],
    ['deflate', 'deflate', deflateSync(Buffer.alloc(5_000_000))],
    ['br', 'br', brotliCompressSync(Buffer.alloc(5_000_000))],
  ])('refuses to grow a %s body past the limit', async (_name, encoding, body) => {
    await expect(decodeBody(body, encoding, 1_000)).rejects.toBeInstanceOf(BodyTooLargeError);
  });

  it.each(['compress', 'zstd', 'gzip, br', 'base64'])('refuses the unknown encoding %j', async (encoding) => {
    await expect(decodeBody(text, encoding, 1_000)).rejects.toBeInstanceOf(UnsupportedEncodingError);
  });

  it.each([
    ['gzip', 'gzip', text],
    ['truncated gzip', 'gzip', gzipSync(text).subarray(0, 10)],
    ['deflate', 'deflate', Buffer.from('garbage')],
    ['br', 'br', Buffer.from([0xff, 0xff, 0xff, 0xff])],
  ])('reports a corrupt %s body', async (_name, encoding, body) => {
    await expect(decodeBody(body, encoding, 1_000)).rejects.toBeInstanceOf(CorruptBodyError);
  });
});

describe('parseJson', () => {
  it('parses UTF-8 JSON and drops a leading BOM', () => {
    expect(parseJson(Buffer.from('{"a":"ü"}'))).toEqual({ a: 'ü' });
    expect(parseJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[1]')]))).toEqual([1]);
  });

  it.each([
    ['not JSON', Buffer.from('{nope')],
    ['empty', Buffer.alloc(0)],
    ['a lone 0xff', Buffer.from([0x22, 0xff, 0x22])],
    ['an overlong encoding', Buffer.from([0x22, 0xc0, 0xaf, 0x22])],
    ['an encoded surrogate', Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
    ['a truncated sequence', Buffer.from([0x22, 0xe2, 0x82, 0x22])],
  ])('answers undefined for %s', (_name, body) => {
    expect(parseJson(body)).toBeUndefined();
  });

  it('parses nesting far deeper than any stack', () => {
    expect(Array.isArray(parseJson(Buffer.from('['.repeat(200_000) + ']'.repeat(200_000))))).toBe(true);
  });

  it('decodeUtf8 refuses invalid UTF-8 rather than replacing it', () => {
    expect(decodeUtf8(Buffer.from('abc'))).toBe('abc');
    expect(decodeUtf8(Buffer.from([0x61, 0xff]))).toBeUndefined();
  });
});
