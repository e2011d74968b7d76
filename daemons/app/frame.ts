/**
 * WebSocket text frames (RFC 6455 §5.2), built once and written to every subscriber's socket as
 * is. Server frames are never masked, so the same bytes serve every connection; building them
 * here rather than per `ws.send()` is what "encode once, frame once" means for fan-out.
 */

/** A final, unmasked text frame around `payload` (which must be UTF-8). */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN + opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, headerLength);
  return frame;
}
