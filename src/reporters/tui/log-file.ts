// Reads a step's log file for the full-log view. The in-memory tail is bounded,
// so the file is the only complete copy; we read at most the last MAX_BYTES so a
// multi-gigabyte log cannot exhaust memory.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { sanitizeLogLine } from './format.js';

export const MAX_LOG_BYTES = 16 * 1024 * 1024;

export interface LogFileContent {
  lines: string[];
  /** True when the start of the file was left out. */
  truncated: boolean;
}

export function readLogFile(path: string, maxBytes = MAX_LOG_BYTES): LogFileContent {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(fd, buf, read, length - read, size - length + read);
      if (n === 0) break;
      read += n;
    }
    let text = buf.subarray(0, read).toString('utf8');
    const truncated = size > length;
    // A cut file starts mid-line: drop the partial first line.
    if (truncated) text = text.slice(text.indexOf('\n') + 1);
    if (text.endsWith('\n')) text = text.slice(0, -1);
    return { lines: text === '' ? [] : text.split('\n').map(sanitizeLogLine), truncated };
  } finally {
    closeSync(fd);
  }
}
