// node:crypto, loaded on first use: reads never need it, and loading it costs about 2 ms of a
// process that lives 35. Every hash and random byte baton makes comes from here.

const crypto = () => process.getBuiltinModule('node:crypto');

/** The SHA-256 of a text, in hex. */
export const sha256 = (text: string): string => crypto().createHash('sha256').update(text).digest('hex');

/** `n` random bytes. */
export const randomBytes = (n: number): Buffer => crypto().randomBytes(n);

/** Equal buffers of one length, compared in constant time (a token's hash). */
export const sameSecret = (a: Buffer, b: Buffer): boolean => crypto().timingSafeEqual(a, b);

/** What the board keeps of a token: its SHA-256. */
export const hashToken = (token: string): string => sha256(token);
