/**
 * CRC-32 (IEEE 802.3, the polynomial zlib and the Node store use) over the
 * UTF-8 bytes of a string. The browser has no built-in checksum, and the
 * stored records need one: it detects a record damaged on disk or by a
 * buggy writer. It is not a MAC; anyone who can write the database can also
 * write a matching checksum.
 */
const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

const encoder = new TextEncoder();

/** The CRC-32 of `text` encoded as UTF-8, as an unsigned 32-bit integer. */
export function crc32(text: string | Uint8Array): number {
  const bytes = typeof text === 'string' ? encoder.encode(text) : text;
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
