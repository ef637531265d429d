/** `1 frame`, `2 frames`, `1 pair`; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * A UTF-16 byte-order mark, or NUL bytes in the first bytes (UTF-16 of ASCII text without a mark):
 * Windows editors save "Unicode" so; read as UTF-8, its NUL bytes would reach the error message.
 */
export function isUtf16(bytes: Uint8Array): boolean {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) return true;
  return bytes.subarray(0, 64).includes(0);
}
